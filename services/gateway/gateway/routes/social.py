"""Social optimizer: submit a job, and the platform catalogue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from gateway.admission import AdmissionDep
from gateway.deps import PrincipalDep, SessionDep
from gateway.problems import PROBLEM_RESPONSES
from gateway.studio_options import JobWebhookDep, PreferWaitDep, answer
from gateway.uploads import read_image_upload
from imagestudio.errors import ValidationFailed
from imagestudio.jobs.schemas import JobRead
from imagestudio.jobs.service import job_service
from imagestudio.studios import social

router = APIRouter(tags=["social"], responses=PROBLEM_RESPONSES)


def _platform_body(platform: social.Platform) -> dict[str, Any]:
    return {
        "id": platform.id,
        "name": platform.name,
        "aliases": list(platform.aliases),
        "file_types": list(platform.file_types),
        "max_bytes": platform.max_bytes,
        "formats": [f.describe() for f in platform.formats],
    }


@router.post("/social/optimize", status_code=202, response_model=JobRead)
def optimize(
    request: Request,
    response: Response,
    session: SessionDep,
    admission: AdmissionDep,
    webhook: JobWebhookDep,
    wait: PreferWaitDep,
    image: Annotated[UploadFile, File(description="The image to adapt (JPEG, PNG, WebP, TIFF, GIF)")],
    platforms: Annotated[
        list[str] | None,
        Form(description="Platforms (repeat or comma-separate); every format of each. `all` for all."),
    ] = None,
    formats: Annotated[
        list[str] | None, Form(description="Formats as `platform.format`, e.g. `instagram.story`")
    ] = None,
    crop_mode: Annotated[social.CropMode, Form()] = "smart",
    focal_x: Annotated[
        float | None, Form(ge=0, le=1, description="Focal point x in 0..1; overrides smart")
    ] = None,
    focal_y: Annotated[float | None, Form(ge=0, le=1)] = None,
    background: Annotated[str, Form(max_length=20, description="fit mode: auto, blur or #rrggbb")] = "auto",
    output_format: Annotated[social.OutputFormat, Form()] = "jpeg",
    quality: Annotated[int, Form(ge=1, le=100)] = 90,
    safe_zone_overlay: Annotated[bool, Form()] = False,
    zip: Annotated[bool, Form(description="Also produce all.zip of every output")] = True,
    enforce_size_limits: Annotated[bool, Form()] = True,
) -> JobRead:
    """Accept a social job: one upload, every chosen platform format; answers 202 with the job."""
    if (replay := admission.replayed()) is not None:
        return replay  # type: ignore[return-value]
    chosen = social.resolve_formats(platforms, formats)
    if (focal_x is None) != (focal_y is None):
        raise ValidationFailed("focal_y" if focal_y is None else "focal_x", "give both focal_x and focal_y")
    if background not in ("auto", "blur") and not social.is_hex_colour(background):
        raise ValidationFailed("background", "use auto, blur or a #rrggbb colour")
    params = social.SocialOptimizeParams(
        formats=[f.key for f in chosen],
        crop_mode=crop_mode,
        focal_point=(focal_x, focal_y) if focal_x is not None and focal_y is not None else None,
        background=background,
        output_format=output_format,
        quality=quality,
        safe_zone_overlay=safe_zone_overlay,
        zip=zip,
        enforce_size_limits=enforce_size_limits,
    )
    upload = read_image_upload(image, field="image")
    job = job_service.submit(
        session,
        tenant_id=admission.tenant_id,
        studio="social",
        params=params.model_dump(mode="json"),
        uploads=[upload],
        cost=social.price(params),
        webhook=webhook,
        idempotency=admission.claim,
    )
    body = admission.accept(response, job_service.to_read(session, [job])[0])
    return answer(request, response, session, body, tenant_id=admission.tenant_id, wait=wait)  # type: ignore[return-value]


@router.get("/social/platforms")
def list_platforms(principal: PrincipalDep) -> dict[str, Any]:
    """Every platform with its formats, sizes, aspect ratios, size limits and safe zones."""
    return {"platforms": [_platform_body(p) for p in social.PLATFORMS.values()]}


@router.get("/social/platforms/{platform}/formats")
def list_formats(platform: str, principal: PrincipalDep) -> dict[str, Any]:
    """The formats of one platform."""
    found = social.get_platform(platform)
    return {"platform": found.id, "formats": [f.describe() for f in found.formats]}


@router.get("/platform-specs/{platform}")
def platform_specs(platform: str, principal: PrincipalDep) -> dict[str, Any]:
    """A platform's upload rules (file types, size limit) and formats."""
    return _platform_body(social.get_platform(platform))
