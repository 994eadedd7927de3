"""Images given by URL, for every studio: priced at the worst case at submission, prepared by the worker.

A studio's ``prepare`` plans and prices a job from its images' headers (sizes for provider limits
and routes, frames for the memory model). The gateway never connects to an image URL, so a job
given one is submitted *unprepared*:

- at submission (:func:`unprepared`): the request as given is stored in the job's params under
  ``UNPREPARED_REQUEST``, the URLs under ``IMAGE_URLS``, and the job holds the most the request
  can cost whatever the image: the studio's own estimate of it (``max_credits``: the dearest route
  or fallback the tier allows), the figure ``POST /estimate-cost`` answers;
- in the worker (:func:`run`, every studio's handler, made by :func:`handler`): the images are fetched through the egress
  guard (:mod:`imagestudio.remote_images`, byte and time caps), held to an upload's header checks,
  stored as the job's inputs, admitted by the memory model, then the studio's ``prepare`` runs on
  their headers, as the gateway runs it for an upload, and the tier's plan is checked. Its params
  replace the stored request and the hold comes to its price (one ledger movement): the rest
  released at once, or, when the image takes the job to a dearer route than the estimate planned
  (too large for the local path the estimate chose, say), the difference held, 402 when the
  tenant cannot afford it. On success only what the job made is captured, as for any job.

Every refusal here (an address refused, no answer, too large, over the memory budget, a limit of
the planned provider, a provider the tier lacks) fails the job on its first delivery with the
problem the gateway would have answered, and releases everything it held.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from imagestudio.config import get_settings
from imagestudio.credits.tier_service import tier_service
from imagestudio.db import session_scope
from imagestudio.errors import PERMANENT_ERRORS, ImageStudioError, PermanentJobError
from imagestudio.imaging import ImageInfo, extension, inspect_image, media_type
from imagestudio.jobs.models import IMAGE_URLS, UNPREPARED_REQUEST
from imagestudio.jobs.runner import Handler, JobCanceled, JobContext
from imagestudio.jobs.service import job_service
from imagestudio.remote_images import fetch_image
from imagestudio.storage import get_store, input_key
from imagestudio.studios import memory
from imagestudio.studios.common.base import Images, Studio
from imagestudio.studios.common.request import StoredImage, StudioRequest
from imagestudio.telemetry.logging import get_logger

log = get_logger(__name__)


def request_fields(request: StudioRequest) -> dict[str, Any]:
    """The studio's own fields of ``request`` as JSON (the per-job webhook and deadline are the job's)."""
    return request.model_dump(mode="json", exclude=set(StudioRequest.model_fields), exclude_none=True)


def unprepared(
    session: Session, *, tenant_id: str, studio: Studio[Any], request: StudioRequest, urls: Mapping[str, str]
) -> tuple[dict[str, Any], int]:
    """The params and the hold of a job given images by URL, before any worker has seen them.

    The hold is the studio's estimate's ``max_credits`` for the tenant's tier: what the request
    may cost whatever image the URL gives (the worker lowers it to the real price).
    """
    fields = request_fields(request)
    allowed = tier_service.tier_of(session, tenant_id=tenant_id).providers
    # Estimating reads provider health in its own transaction (as ``prepare`` does): end this one
    # first, or on SQLite that one would wait for this very thread.
    session.rollback()
    held = studio.estimate(fields, allowed).max_credits
    params = {UNPREPARED_REQUEST: {"model": type(request).__name__, "fields": fields}, IMAGE_URLS: dict(urls)}
    return params, held


class _Refused(PermanentJobError):
    """Raised in the worker for a refusal the gateway would have answered (a 403 plan, a provider's
    limit) found once the images were fetched: the job fails with that problem, never retried."""

    def __init__(self, cause: ImageStudioError) -> None:
        super().__init__(cause.detail, extra=cause.extra)
        self.status, self.title, self.slug = cause.status, cause.title, cause.slug


def handler(*studios: Studio[Any]) -> Handler:
    """The ``run_job`` handler of a studio's worker: :func:`run` for ``studios`` (its routes)."""
    return lambda ctx: run(ctx, *studios)


def run(ctx: JobContext, *studios: Studio[Any]) -> None:
    """A job of any of ``studios`` (a studio's routes: ``compress`` and ``convert``): prepared from
    its fetched images first when it was given images by URL, then run by its studio."""
    request = ctx.params.get(UNPREPARED_REQUEST)
    if request is None:
        studios[0].run(ctx)
        return
    variants = {studio.Request.__name__: studio for studio in studios}
    studio = variants[request["model"]]
    try:
        _prepare(ctx, studio, studio.Request.model_validate(request["fields"]))
    except ImageStudioError as exc:
        if isinstance(exc, PERMANENT_ERRORS):
            raise
        raise _Refused(exc) from exc
    studio.run(ctx)


def _prepare(ctx: JobContext, studio: Studio[Any], request: StudioRequest) -> None:
    """Fetch the URL images into the job's inputs, admit and prepare the job on their headers, record it."""
    settings = get_settings()
    urls: dict[str, str] = dict(ctx.params[IMAGE_URLS])
    images: dict[str, tuple[StoredImage, ImageInfo]] = {}
    for name in ctx.inputs:
        if name not in urls:  # an upload given beside the URLs: already checked and stored
            data = ctx.read_input(name)
            info = inspect_image(
                data, max_pixels=settings.max_image_pixels, max_bytes=settings.max_upload_bytes, field=name
            )
            images[name] = (StoredImage(field=name, key=ctx.inputs[name], size_bytes=len(data)), info)
    fetched: dict[str, bytes] = {}
    for name, url in urls.items():
        data = fetch_image(
            url,
            field=name,
            max_bytes=settings.max_upload_bytes,
            timeout_seconds=settings.remote_image_timeout_seconds,
            allow_loopback=settings.remote_image_allow_loopback,
        )
        info = inspect_image(
            data, max_pixels=settings.max_image_pixels, max_bytes=settings.max_upload_bytes, field=name
        )
        key = input_key(ctx.tenant_id, ctx.job_id, name, extension(info.format))
        images[name] = (StoredImage(field=name, key=key, size_bytes=len(data)), info)
        fetched[name] = data
    # The gateway's admission, on the headers it never saw: refused before any pixel is decoded.
    memory.admit(request, {name: info for name, (_, info) in images.items()}, settings)
    given: Images = images
    with session_scope() as session:
        prepared = studio.prepare(session, tenant_id=ctx.tenant_id, request=request, images=given)
        tier = tier_service.tier_of(session, tenant_id=ctx.tenant_id)
        tier_service.check_plan(tier, studio=studio.name, provider=prepared.provider, batch=prepared.batch)
    store = get_store()
    for name, data in fetched.items():
        store.put(images[name][0].key, data, content_type=media_type(images[name][1].format))
    params = {**prepared.params.model_dump(mode="json"), IMAGE_URLS: urls}
    keys = {name: images[name][0].key for name in fetched}
    sizes = {name: (info.width, info.height) for name, (_, info) in images.items() if name in fetched}
    recorded = False
    try:
        with session_scope() as session:
            recorded = job_service.record_prepared(
                session, job_id=ctx.job_id, params=params, inputs=keys, sizes=sizes, cost=prepared.cost
            )
    finally:
        if not recorded:  # the job keeps no input it never recorded
            for key in keys.values():
                store.delete(key)
    if not recorded:
        raise JobCanceled(ctx.job_id)
    ctx.params = params
    ctx.inputs.update(keys)
    ctx.sizes.update(sizes)
    log.info("job.images_fetched", job_id=ctx.job_id, fields=sorted(fetched), cost=prepared.cost)
