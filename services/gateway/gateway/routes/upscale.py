"""Upscale studio: submit an upscale job, and the modes and presets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from gateway.admission import AdmissionDep
from gateway.deps import PrincipalDep, SessionDep
from gateway.problems import PROBLEM_RESPONSES
from gateway.studio_options import JobWebhookDep, PreferWaitDep, answer
from gateway.uploads import read_image_upload_info
from imagestudio.jobs.schemas import JobRead
from imagestudio.jobs.service import job_service
from imagestudio.studios import upscale
from imagestudio.studios._provider_ops import Path

router = APIRouter(tags=["upscale"], responses=PROBLEM_RESPONSES)


@router.post("/upscale", status_code=202, response_model=JobRead)
def submit_upscale(
    request: Request,
    response: Response,
    session: SessionDep,
    admission: AdmissionDep,
    webhook: JobWebhookDep,
    wait: PreferWaitDep,
    image: Annotated[UploadFile, File(description="The image to upscale")],
    mode: Annotated[upscale.ModeName, Form(description="fast (4x) | conservative | creative")] = "fast",
    prompt: Annotated[str | None, Form(max_length=upscale.MAX_PROMPT_CHARS)] = None,
    negative_prompt: Annotated[str | None, Form(max_length=upscale.MAX_PROMPT_CHARS)] = None,
    creativity: Annotated[float | None, Form(ge=0, le=0.5)] = None,
    seed: Annotated[int | None, Form(ge=0, le=upscale.MAX_SEED)] = None,
    output_format: Annotated[upscale.OutputFormat, Form()] = "png",
    preset: Annotated[upscale.PresetName | None, Form(description="faithful | balanced | enhanced")] = None,
    path: Annotated[Path, Form(description="auto | provider | local")] = "auto",
) -> JobRead:
    """Accept an upscale job (202). Modes, limits, presets and paths: GET /upscale/modes.

    Creative is asynchronous at the provider: the job stays ``running`` while it is polled.
    Images outside the mode's limits, options the mode does not use, and a mode no configured
    provider nor the local path can serve are refused before anything is stored or queued.
    """
    if (replay := admission.replayed()) is not None:
        return replay  # type: ignore[return-value]
    form = upscale.UpscaleForm(
        mode=mode,
        path=path,
        prompt=prompt,
        negative_prompt=negative_prompt,
        creativity=creativity,
        seed=seed,
        output_format=output_format,
        preset=preset,
        files=frozenset({"image"}),
    )
    upscale.check_form(form)
    files = {"image": read_image_upload_info(image, field="image")}
    params, stored = upscale.prepare(session, tenant_id=admission.tenant_id, form=form, files=files)
    job = job_service.submit(
        session,
        tenant_id=admission.tenant_id,
        studio="upscale",
        params=params.model_dump(mode="json"),
        uploads=stored,
        cost=upscale.price(params),
        provider=params.routes[0].provider,
        webhook=webhook,
        idempotency=admission.claim,
    )
    body = admission.accept(response, job_service.to_read(session, [job])[0])
    return answer(request, response, session, body, tenant_id=admission.tenant_id, wait=wait)  # type: ignore[return-value]


@router.get("/upscale/modes")
def list_modes(principal: PrincipalDep) -> dict[str, Any]:
    """Every upscale mode (inputs, limits, credits, local path) and the quality presets."""
    return upscale.describe_modes()
