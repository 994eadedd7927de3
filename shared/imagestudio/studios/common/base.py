"""The shape every studio has: one request model, ``check``, ``prepare``, ``price`` and ``run``.

A studio is a module of :mod:`imagestudio.studios` satisfying :class:`Studio`:

- ``name``: the job's studio, its queue and its actor prefix (``"edit"``);
- ``Request``: the one Pydantic model the route (JSON body and multipart form), the batch entry
  and the catalogue endpoint read; the stored params are built from it;
- ``check(request, files=...)``: refusals that need no image (before any upload is read);
- ``prepare(session, tenant_id=..., request=..., images=...)``: every other refusal, then the
  :class:`Prepared` job (params to store, images, credits to reserve);
- ``price(params)``: the credits a job with these params reserves;
- ``estimate(params, allowed)``: the estimate endpoint's answer for a request given in the route's
  own terms, planned as ``prepare`` would plan it for a tier allowing the providers ``allowed``;
- ``run(ctx)``: the worker's side, called by the studio's ``<name>.run_job`` actor;
- ``ROUTE``: its ``POST`` in the gateway (path, operation name, description; ``common/http_routes.py``), and
  optionally ``CATALOGUES``, the ``GET`` routes that describe what it offers.

The registry (:mod:`imagestudio.studios.registry`) names them all; the gateway's one submission
helper drafts a job from any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from imagestudio.imaging import ImageInfo
from imagestudio.jobs.runner import JobContext
from imagestudio.jobs.service import Upload
from imagestudio.studios.common.http_routes import SubmitRoute
from imagestudio.studios.common.pricing import Estimate
from imagestudio.studios.common.request import StoredImage, StudioRequest

R = TypeVar("R", bound=StudioRequest)
R_contra = TypeVar("R_contra", bound=StudioRequest, contravariant=True)

#: The images a request gives, by field: bytes still to store or an upload already stored, and their header.
Images = Mapping[str, tuple[Upload | StoredImage, ImageInfo]]


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """What ``prepare`` gives every studio alike: the job to submit, short of its webhook."""

    params: BaseModel
    images: Sequence[Upload | StoredImage] = ()
    cost: int
    #: The provider planned first (``None`` for local-only studios).
    provider: str | None = None
    #: Images the job makes when it makes several (create's count).
    batch: int | None = None


class Studio(Protocol[R_contra]):
    """A studio module."""

    @property
    def name(self) -> str: ...

    @property
    def Request(self) -> type[StudioRequest]: ...  # noqa: N802 - a class, named as one

    def check(self, request: R_contra, *, files: frozenset[str]) -> None: ...

    def prepare(self, session: Session, *, tenant_id: str, request: R_contra, images: Images) -> Prepared: ...

    def price(self, params: Any) -> int: ...

    @property
    def estimate(self) -> Callable[[dict[str, Any], Collection[str]], Estimate]: ...

    def run(self, ctx: JobContext) -> None: ...

    @property
    def ROUTE(self) -> SubmitRoute: ...  # noqa: N802 - a constant of the module, named as one
