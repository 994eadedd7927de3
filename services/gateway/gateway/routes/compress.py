"""Compress studio: submit a compression or a conversion job, and the formats and presets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from gateway.catalogues import CompressOptions, CompressPresets
from gateway.deps import PrincipalDep
from gateway.guard import GuardedRoute
from gateway.openapi import example_response
from gateway.problems import PROBLEM_RESPONSES
from gateway.studio_requests import StudioBody, studio_body
from gateway.submission import SubmissionDep, studio_route
from imagestudio.jobs.schemas import JobRead
from imagestudio.studios import compress
from imagestudio.studios.compress import convert

router = APIRouter(route_class=GuardedRoute, tags=["compress"], responses=PROBLEM_RESPONSES)

CompressBody = Annotated[StudioBody[compress.CompressRequest], Depends(studio_body(compress.CompressRequest))]
ConvertBody = Annotated[StudioBody[convert.ConvertRequest], Depends(studio_body(convert.ConvertRequest))]


@router.post("/compress", **studio_route(compress))
async def submit_compress(submission: SubmissionDep, body: CompressBody) -> JobRead | Response:
    """Accept a compression job (202): one of ``quality``, ``target_kb``, ``target_ssim`` or ``preset``.

    The body is a multipart form with the image file, or JSON naming an upload. Without any of
    the four, the smallest file whose SSIM to the source is at least 0.98. Two of them at once,
    a preset with a format, SSIM 1 in a lossy format or AVIF on a server without it are refused
    here; a target this image cannot reach fails the job, naming the field. Free in credits.
    """
    return await submission.submit(compress, body)


@router.post("/convert", **studio_route(convert))
async def submit_convert(submission: SubmissionDep, body: ConvertBody) -> JobRead | Response:
    """Accept a conversion job (202): a job of studio ``compress`` converting one image to ``format``.

    Transparency preserved (formats with alpha) or flattened on ``background``; colour space to
    sRGB; metadata kept or stripped; animated GIF or WebP keeps every frame in WebP or GIF.
    """
    return await submission.submit(convert, body)


@router.get("/compress/options", responses=example_response(convert.describe_options()))
def list_options(principal: PrincipalDep) -> CompressOptions:
    """The formats this server writes (AVIF where its libvips can), the presets and every field of both routes."""
    return CompressOptions.model_validate(convert.describe_options())


@router.get(
    "/compress/presets", responses=example_response({"presets": convert.describe_options()["presets"]})
)
def list_presets(principal: PrincipalDep) -> CompressPresets:
    """The presets: web, email, social, high_quality, max_compression (format and quality each)."""
    return CompressPresets.model_validate({"presets": convert.describe_options()["presets"]})
