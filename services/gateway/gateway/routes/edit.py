"""Edit studio: submit an edit job, and the operations a client can build its form from."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from gateway.admission import AdmissionDep
from gateway.deps import PrincipalDep, SessionDep
from gateway.problems import PROBLEM_RESPONSES
from gateway.studio_options import JobWebhookDep, PreferWaitDep, answer
from gateway.uploads import read_image_upload_info
from imagestudio.imaging import ImageInfo
from imagestudio.jobs.schemas import JobRead
from imagestudio.jobs.service import Upload, job_service
from imagestudio.studios import edit
from imagestudio.studios._provider_ops import Path

router = APIRouter(tags=["edit"], responses=PROBLEM_RESPONSES)

_Prompt = Annotated[str | None, Form(max_length=edit.MAX_PROMPT_CHARS)]
_Margin = Annotated[int | None, Form(ge=0, le=edit.MAX_MARGIN)]


def sent(upload: UploadFile | None) -> bool:
    """Whether a file field was really sent (browsers send an empty part for an unused file input)."""
    return upload is not None and bool(upload.filename or upload.size)


@router.post("/edit", status_code=202, response_model=JobRead)
def submit_edit(
    request: Request,
    response: Response,
    session: SessionDep,
    admission: AdmissionDep,
    webhook: JobWebhookDep,
    wait: PreferWaitDep,
    operation: Annotated[edit.OperationName, Form(description="See GET /edit/operations")],
    image: Annotated[UploadFile, File(description="The image to edit")],
    mask: Annotated[
        UploadFile | None, File(description="White = the area; default: the image's alpha")
    ] = None,
    background_reference: Annotated[
        UploadFile | None, File(description="Relight: the new background")
    ] = None,
    light_reference: Annotated[UploadFile | None, File(description="Relight: the lighting to match")] = None,
    prompt: _Prompt = None,
    search_prompt: _Prompt = None,
    select_prompt: _Prompt = None,
    negative_prompt: _Prompt = None,
    left: _Margin = None,
    right: _Margin = None,
    up: _Margin = None,
    down: _Margin = None,
    grow_mask: Annotated[int | None, Form(ge=0, le=edit.MAX_GROW_MASK)] = None,
    creativity: Annotated[float | None, Form(ge=0, le=1)] = None,
    seed: Annotated[int | None, Form(ge=0, le=edit.MAX_SEED)] = None,
    style_preset: Annotated[edit.StylePreset | None, Form()] = None,
    model: Annotated[
        str | None, Form(max_length=100, description="general_edit: a WaveSpeed edit model")
    ] = None,
    output_format: Annotated[edit.OutputFormat, Form()] = "png",
    path: Annotated[Path, Form(description="auto | provider | local")] = "auto",
) -> JobRead:
    """Accept an edit job (202). Inputs, limits and paths per operation: GET /edit/operations.

    Refused before anything is stored or queued (problem+json naming the field): inputs the
    operation does not use or lacks, a mask of another size, images outside the provider's (or
    the local path's) pixel, side and aspect limits, a provider request over 10 MiB (413), and
    an operation that no configured provider nor the local path can serve.
    """
    if (replay := admission.replayed()) is not None:
        return replay  # type: ignore[return-value]
    uploads = {
        "image": image,
        "mask": mask,
        "background_reference": background_reference,
        "light_reference": light_reference,
    }
    form = edit.EditForm(
        operation=operation,
        path=path,
        prompt=prompt,
        search_prompt=search_prompt,
        select_prompt=select_prompt,
        negative_prompt=negative_prompt,
        left=left,
        right=right,
        up=up,
        down=down,
        grow_mask=grow_mask,
        creativity=creativity,
        seed=seed,
        style_preset=style_preset,
        model=model,
        output_format=output_format,
        files=frozenset(name for name, upload in uploads.items() if sent(upload)),
    )
    edit.check_form(form)  # cheap refusals before any image is decoded
    files: dict[str, tuple[Upload, ImageInfo]] = {
        name: read_image_upload_info(upload, field=name)
        for name, upload in uploads.items()
        if upload is not None and name in form.files
    }
    params, stored = edit.prepare(session, tenant_id=admission.tenant_id, form=form, files=files)
    job = job_service.submit(
        session,
        tenant_id=admission.tenant_id,
        studio="edit",
        params=params.model_dump(mode="json"),
        uploads=stored,
        cost=edit.price(params),
        provider=params.routes[0].provider,
        webhook=webhook,
        idempotency=admission.claim,
    )
    body = admission.accept(response, job_service.to_read(session, [job])[0])
    return answer(request, response, session, body, tenant_id=admission.tenant_id, wait=wait)  # type: ignore[return-value]


@router.get("/edit/operations")
def list_operations(principal: PrincipalDep) -> dict[str, Any]:
    """Every edit operation: required and optional inputs, limits, credits, and whether a local path exists."""
    return edit.describe_operations()
