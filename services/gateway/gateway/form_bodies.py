"""Multipart bodies being received at once, in bytes: a cap for the gateway process and one per tenant.

A form's files spool to ``/tmp`` (Starlette keeps a part in memory up to 1 MiB, then writes it to
disk), so the bytes of the forms being received bound the temporary disk a gateway needs: the pod's
``/tmp`` is sized from ``max_form_bytes_in_flight`` (docs/capacity.md). A body counts at its
Content-Length (the route guard refused one over the route's limit, and the server reads no
further), a chunked one at the route's limit, from before its first byte is read until the request
ends, when its spooled files are closed: an error or a client hanging up gives the bytes back too.
Counted in each gateway process, on its event loop (no lock), like ``stream_slots``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from fastapi import Request

from imagestudio.config import get_settings
from imagestudio.errors import FormBodiesLimited

#: Seconds a refused form is told to wait: forms are received in seconds, not minutes.
RETRY_AFTER_SECONDS = 2


@dataclass
class Reservation:
    """One form's bytes, held; ``release`` gives them back once, however often it is called."""

    bodies: FormBodies
    tenant_id: str | None
    amount: int
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.bodies._release(self.tenant_id, self.amount)


@dataclass
class FormBodies:
    """The bytes of multipart bodies this process is receiving, in all and per tenant."""

    total: int = 0
    _held: Counter[str] = field(default_factory=Counter)

    def held(self, tenant_id: str | None = None) -> int:
        """Bytes held by the tenant, or by everyone when ``tenant_id`` is None."""
        return self.total if tenant_id is None else self._held[tenant_id]

    def reserve(self, tenant_id: str | None, amount: int) -> Reservation:
        """Hold ``amount`` bytes for a form about to be read, or 429 (with Retry-After) past a cap."""
        settings = get_settings()
        per_tenant, in_all = settings.max_form_bytes_in_flight_per_tenant, settings.max_form_bytes_in_flight
        if tenant_id is not None and self._held[tenant_id] + amount > per_tenant:
            raise FormBodiesLimited(
                f"Forms of {self._held[tenant_id]} bytes are being received for your tenant on this "
                f"gateway; this one's {amount} would pass the {per_tenant} byte limit.",
                policy="form-bytes-per-tenant",
                allowed=per_tenant,
                remaining=per_tenant - self._held[tenant_id],
                retry_after=RETRY_AFTER_SECONDS,
            )
        if self.total + amount > in_all:
            raise FormBodiesLimited(
                f"This gateway is receiving as many form bytes as it takes at once ({in_all}).",
                policy="form-bytes",
                allowed=in_all,
                remaining=in_all - self.total,
                retry_after=RETRY_AFTER_SECONDS,
            )
        self.total += amount
        if tenant_id is not None:
            self._held[tenant_id] += amount
        return Reservation(self, tenant_id, amount)

    def _release(self, tenant_id: str | None, amount: int) -> None:
        self.total -= amount
        if tenant_id is not None:
            self._held[tenant_id] -= amount
            if self._held[tenant_id] <= 0:
                del self._held[tenant_id]


def form_bodies(request: Request) -> FormBodies:
    """The app's count of multipart bytes being received."""
    bodies: FormBodies | None = getattr(request.app.state, "form_bodies", None)
    if bodies is None:
        bodies = FormBodies()
        request.app.state.form_bodies = bodies
    return bodies
