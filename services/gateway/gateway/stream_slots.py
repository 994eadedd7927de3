"""Per-tenant caps on requests that hold a connection open: event streams and ``Prefer: wait``.

Counted in each gateway process, on its event loop (no lock needed): with several gateways a
tenant may hold the cap on each. That bounds what one process holds (connections, feed
subscriptions) per tenant, which is what the cap protects; the README says so. A slot is
released in a ``finally``, so an error or a client hanging up gives it back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from fastapi import Request

from imagestudio.errors import StreamsLimited


@dataclass
class Slot:
    """One held place; ``release`` gives it back once, however often it is called."""

    slots: TenantSlots
    tenant_id: str
    released: bool = False
    #: Set when a response took the slot over: it releases it when it has finished sending.
    handed_over: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.slots._release(self.tenant_id)


@dataclass
class TenantSlots:
    """How many of one kind of open request each tenant holds in this process."""

    policy: str
    what: str
    _held: Counter[str] = field(default_factory=Counter)

    def held(self, tenant_id: str) -> int:
        return self._held[tenant_id]

    def acquire(self, tenant_id: str, *, allowed: int) -> Slot:
        """A slot for the tenant, or 429 (with Retry-After) when it holds ``allowed`` already."""
        if self._held[tenant_id] >= allowed:
            raise StreamsLimited(policy=self.policy, what=self.what, allowed=allowed)
        self._held[tenant_id] += 1
        return Slot(self, tenant_id)

    def _release(self, tenant_id: str) -> None:
        self._held[tenant_id] -= 1
        if self._held[tenant_id] <= 0:
            del self._held[tenant_id]


def _slots(request: Request, name: str, policy: str, what: str) -> TenantSlots:
    slots: TenantSlots | None = getattr(request.app.state, name, None)
    if slots is None:
        slots = TenantSlots(policy=policy, what=what)
        setattr(request.app.state, name, slots)
    return slots


def event_streams(request: Request) -> TenantSlots:
    """The app's count of open event streams per tenant."""
    return _slots(request, "event_stream_slots", "event-streams", "event streams")


def waits(request: Request) -> TenantSlots:
    """The app's count of ``Prefer: wait`` requests being held per tenant."""
    return _slots(request, "wait_slots", "waits", "`Prefer: wait` requests")
