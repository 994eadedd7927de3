"""SIMULATOR of the Stability AI REST v2beta API (stable-image generate, edit, upscale, control, results).

Same paths, multipart fields, ``authorization: Bearer`` check, status codes, ``finish-reason``
and ``seed`` headers and async ids as the real API, but every answer is a synthetic render
labelled ``X-Simulator: stability-simulator``. It never contacts api.stability.ai.

Rate limit as published (https://platform.stability.ai/docs/getting-started/rate-limits, checked
2026-12-07): more than 150 requests in 10 seconds answers 429 and locks the key out for 60
seconds, every request inside the lockout answering 429 too, with no ``Retry-After`` header.
The thresholds are constructor arguments so a test can trip them with a handful of calls.

Moderation (a ``content_filter`` fault) refuses a request with 403 ``content_moderation`` and
charges nothing; an output the filter blurred (a ``finish_reason: CONTENT_FILTERED`` fault) is a
200 with ``finish-reason: CONTENT_FILTERED`` and the blurred image, billed as any success. Source:
the v2beta OpenAPI (``finish-reason`` header: "CONTENT_FILTERED - the generation was filtered by
our content moderation system", and the 403 response), kept in docs/vendor/, checked 2026-12-07.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Collection

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from PIL import Image, ImageFilter
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from simulators import render
from simulators.faults import AsyncProviderSimulator, Fault, begun_post, route
from simulators.stability_fields import (
    ASPECT_RATIOS,
    CONTROL_ASPECT,
    CONTROL_OPERATIONS,
    EDIT_OPERATIONS,
    MAX_GROW_MASK,
    MAX_REQUEST_BYTES,
    SD3_ALIASES,
    SD3_MODELS,
    SIZES_1MP,
    STYLE_PRESETS,
    UPSCALE_CREATIVITY,
    UPSCALE_MODES,
    Fields,
    error,
    error_body,
)

__all__ = ["MODERATION_MESSAGE", "StabilitySimulator"]

#: Stability's 403 text for a request its moderation refused.
MODERATION_MESSAGE = (
    "Your request was flagged by our content moderation system, as a result your request was denied "
    "and you were not charged."
)

#: What an endpoint draws once its fields are checked (run in a worker thread).
Transform = Callable[[], Image.Image]


class StabilitySimulator(AsyncProviderSimulator):
    """A SIMULATOR of ``api.stability.ai`` v2beta; ``app`` is the ASGI app to serve.

    ``in_progress_polls`` is how many polls of ``/v2beta/results/{id}`` answer 202 before the
    result is ready (a ``stay_in_progress`` fault overrides it for one submission).
    """

    def __init__(
        self,
        *,
        api_key: str = "sim-stability-key",
        in_progress_polls: int = 1,
        rate_limit: int = 150,
        rate_window_seconds: float = 10.0,
        lockout_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_limit = rate_limit
        self.rate_window_seconds = rate_window_seconds
        self.lockout_seconds = lockout_seconds
        self._clock = clock
        self._rate_lock = threading.Lock()
        self._recent: deque[float] = deque()
        self._locked_until = float("-inf")
        super().__init__(
            "stability",
            "Stability AI REST v2beta API",
            "api.stability.ai",
            api_key=api_key,
            in_progress_polls=in_progress_polls,
        )

    # -- app --

    # -- shared steps --

    async def _start(self, request: Request) -> tuple[Fault | None, Response | None]:
        """Authenticate, then take the scripted fault; a response means answer it at once."""
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return None, error(401, "authorization: invalid or missing API key")
        if (locked := self._rate_limited()) is not None:
            return None, locked
        fault = await self.harness.begin(request)
        if fault is not None:
            scripted = self.harness.error_response(fault, error_body)
            if scripted is not None:
                return fault, scripted
            if fault.content_filter:
                # Moderation refuses the prompt or input with a 403 and charges nothing.
                return fault, error(403, MODERATION_MESSAGE)
        return fault, None

    def _rate_limited(self) -> Response | None:
        """The lockout's 429 (no Retry-After) when this key is, or now becomes, locked out."""
        now = self._clock()
        with self._rate_lock:
            if now >= self._locked_until:
                self._recent.append(now)
                while self._recent and now - self._recent[0] > self.rate_window_seconds:
                    self._recent.popleft()
                if len(self._recent) <= self.rate_limit:
                    return None
                self._locked_until = now + self.lockout_seconds
                self._recent.clear()
        return error(
            429,
            f"You have exceeded the rate limit of {self.rate_limit} requests within a "
            f"{self.rate_window_seconds:g} second period, and have been timed out for "
            f"{self.lockout_seconds:g} seconds.",
        )

    async def _begin(
        self, request: Request, name: str, kind: str, known: Collection[str]
    ) -> tuple[Fault | None, Fields, str] | Response:
        """What every POST does first: refuse a ``kind/name`` endpoint not ``known``, authenticate,
        take the fault, read the form and ``accept``."""
        if name not in known:
            return error(404, f"no such endpoint: {kind}/{name}")
        fault, early = await self._start(request)
        if early is not None:
            return early
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        accept = self._accept(request)
        if isinstance(accept, Response):
            return accept
        return fault, Fields(form), accept

    async def _form(self, request: Request) -> FormData | Response:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return error(400, "content-type: must be multipart/form-data")
        if int(request.headers.get("content-length") or 0) > MAX_REQUEST_BYTES:
            return error(413, "request body exceeds 10 MiB")
        try:
            return await request.form()
        except Exception as exc:  # a malformed body is the client's problem, as on the real API
            return error(400, f"body: could not parse multipart form ({exc})")

    @staticmethod
    def _accept(request: Request) -> str | Response:
        accept = request.headers.get("accept", "image/*") or "image/*"
        if "application/json" in accept:
            return "json"
        if "image/" in accept or "*/*" in accept:
            return "image"
        return error(400, "accept: must be image/* or application/json")

    @staticmethod
    def _image_answer(
        data: bytes, output_format: str, seed: int, finish_reason: str, accept: str
    ) -> Response:
        headers = {"finish-reason": finish_reason, "seed": str(seed)}
        if accept == "json":
            body = {
                "image": base64.b64encode(data).decode("ascii"),
                "finish_reason": finish_reason,
                "seed": seed,
            }
            return JSONResponse(body, headers=headers)
        return Response(data, media_type=f"image/{output_format}", headers=headers)

    @staticmethod
    def _filtered(image: Image.Image) -> Image.Image:
        """What a content-filtered answer looks like: the image blurred past recognition."""
        return image.filter(ImageFilter.GaussianBlur(radius=max(8, min(image.size) // 8)))

    # -- generate --

    @begun_post("/v2beta/stable-image/generate/{name}", "generate", ("ultra", "core", "sd3"))
    async def _generate(self, endpoint: str, fault: Fault | None, fields: Fields, accept: str) -> Response:
        prompt = fields.text("prompt", required=True) or ""
        fields.text("negative_prompt")
        aspect_ratio = fields.choice("aspect_ratio", ASPECT_RATIOS, "1:1") or "1:1"
        seed = fields.integer("seed", 0, 4_294_967_294, 0)
        output_format = fields.choice("output_format", ("jpeg", "png", "webp"), "png") or "png"
        fields.choice("style_preset", STYLE_PRESETS, None)
        source: Image.Image | None = None
        strength: float | None = None
        if endpoint == "sd3":
            model = fields.text("model") or "sd3.5-large"
            model = SD3_ALIASES.get(model, model)
            if model not in SD3_MODELS:
                fields.errors.append(f"model: must be one of {', '.join(sorted(SD3_MODELS))}")
            mode = fields.choice("mode", ("text-to-image", "image-to-image"), "text-to-image")
            fields.number("cfg_scale", 1, 10)
            if mode == "image-to-image":
                source = await fields.image("image", required=True)
                strength = fields.number("strength", 0, 1)
                if strength is None:
                    fields.errors.append("strength: is required for image-to-image")
        else:
            source = await fields.image("image", required=False, max_pixels=16_384 * 16_384)
            strength = fields.number("strength", 0, 1)
            if source is not None and strength is None:
                fields.errors.append("strength: is required when image is given")
        if fields.errors:
            return error(400, *fields.errors)

        seed = self.harness.pick_seed(seed)
        if source is not None:
            ratio = source.width / source.height
            width = round(math.sqrt(1024 * 1024 * ratio) / 64) * 64
            size = (width, round(width / ratio / 64) * 64)
        else:
            width, height = SIZES_1MP[aspect_ratio]
            scale = math.sqrt(1.5) if endpoint == "core" else 1.0
            size = (round(width * scale / 64) * 64, round(height * scale / 64) * 64)

        def draw() -> Image.Image:
            image = render.render(prompt, seed=seed, width=size[0], height=size[1])
            if source is not None:
                # strength 0 gives back the source, 1 ignores it (0.0 is a value, not a missing one).
                image = Image.blend(
                    source.convert("RGB").resize(size), image, 0.5 if strength is None else strength
                )
            return image

        return await self._sync_answer(fault, draw, output_format, seed, accept)

    # -- edit --

    @begun_post("/v2beta/stable-image/edit/{name}", "edit", EDIT_OPERATIONS)
    async def _edit(self, operation: str, fault: Fault | None, fields: Fields, accept: str) -> Response:
        relight = operation == "replace-background-and-relight"
        max_pixels = 4_194_304 if operation == "remove-background" else 9_437_184
        image = await fields.image(
            "subject_image" if relight else "image", required=True, max_pixels=max_pixels
        )
        mask = await fields.image("mask", required=False, min_side=1, min_pixels=1, max_pixels=max_pixels)
        prompt_required = operation in ("inpaint", "search-and-replace", "search-and-recolor")
        prompt = fields.text("prompt", required=prompt_required) or ""
        fields.text("negative_prompt")
        search_prompt = fields.text("search_prompt", required=operation == "search-and-replace")
        select_prompt = fields.text("select_prompt", required=operation == "search-and-recolor")
        grow_mask = fields.integer("grow_mask", 0, MAX_GROW_MASK, 5)
        fields.number("creativity", 0, 1)
        seed = self.harness.pick_seed(fields.integer("seed", 0, 4_294_967_294, 0))
        formats = ("png", "webp") if operation == "remove-background" else ("jpeg", "png", "webp")
        output_format = fields.choice("output_format", formats, "png") or "png"
        fields.choice("style_preset", STYLE_PRESETS, None)
        expand = {side: fields.integer(side, 0, 2000, 0) for side in ("left", "right", "up", "down")}
        if operation == "outpaint" and not any(expand.values()):
            fields.errors.append("left, right, up, down: at least one must be greater than 0")
        background = await fields.image("background_reference", required=False, max_pixels=16_384 * 16_384)
        light = await fields.image("light_reference", required=False, max_pixels=16_384 * 16_384)
        background_prompt = fields.text("background_prompt")
        if relight and background is None and not background_prompt:
            fields.errors.append("background_reference or background_prompt: one is required")
        if fields.errors or image is None:
            return error(400, *fields.errors)
        subject = image

        def transform() -> Image.Image:
            if operation == "erase":
                return render.erase(subject, mask, grow_mask=grow_mask)
            if operation == "inpaint":
                return render.inpaint(subject, mask, prompt=prompt, seed=seed)
            if operation == "outpaint":
                return render.outpaint(subject, prompt=prompt, seed=seed, **expand)
            if operation == "search-and-replace":
                return render.search_and_replace(subject, prompt=f"{prompt} (was {search_prompt})", seed=seed)
            if operation == "search-and-recolor":
                return render.recolor(subject, prompt=f"{prompt} {select_prompt}", seed=seed)
            if operation == "remove-background":
                return render.remove_background(subject)
            return render.relight(
                subject, background=background, light=light, prompt=background_prompt or "", seed=seed
            )

        if relight:
            return await self._submit_async(fault, transform, output_format, seed, model="edit/" + operation)
        return await self._sync_answer(fault, transform, output_format, seed, accept)

    # -- upscale --

    @begun_post("/v2beta/stable-image/upscale/{name}", "upscale", UPSCALE_MODES)
    async def _upscale(self, mode: str, fault: Fault | None, fields: Fields, accept: str) -> Response:
        if mode == "fast":
            image = await fields.image("image", required=True, min_side=32, max_side=1536, min_pixels=1024,
                                       max_pixels=1_048_576)  # fmt: skip
        else:
            image = await fields.image("image", required=True,
                                       max_pixels=1_048_576 if mode == "creative" else 9_437_184)  # fmt: skip
        prompt = fields.text("prompt", required=mode != "fast") or ""
        fields.text("negative_prompt")
        low, high = UPSCALE_CREATIVITY[mode]
        fields.number("creativity", low, high)
        seed = self.harness.pick_seed(fields.integer("seed", 0, 4_294_967_294, 0))
        output_format = fields.choice("output_format", ("jpeg", "png", "webp"), "png") or "png"
        fields.choice("style_preset", STYLE_PRESETS, None)
        if fields.errors or image is None:
            return error(400, *fields.errors)
        source = image

        def transform() -> Image.Image:
            if mode == "fast":
                return render.upscale(source, factor=4)
            upscaled = render.resize_to_megapixels(source, 4.0)
            if mode == "creative":
                # Creative upscales re-imagine detail; a faint overlay of the prompt render stands in for it.
                overlay = render.render(prompt, seed=seed, width=upscaled.width, height=upscaled.height)
                return Image.blend(upscaled.convert("RGB"), overlay, 0.15)
            return upscaled

        if mode == "creative":
            return await self._submit_async(fault, transform, output_format, seed, model="upscale/creative")
        return await self._sync_answer(fault, transform, output_format, seed, accept)

    # -- control --

    @begun_post("/v2beta/stable-image/control/{name}", "control", CONTROL_OPERATIONS)
    async def _control(self, operation: str, fault: Fault | None, fields: Fields, accept: str) -> Response:
        transfer = operation == "style-transfer"
        image = await fields.image("init_image" if transfer else "image", required=True)
        style = await fields.image("style_image", required=True) if transfer else None
        for name, picture in (("init_image" if transfer else "image", image), ("style_image", style)):
            if picture is not None and not CONTROL_ASPECT[0] - 1e-9 <= picture.width / picture.height <= (
                CONTROL_ASPECT[1] + 1e-9
            ):
                fields.errors.append(f"{name}: aspect ratio must be between 1:2.5 and 2.5:1")
        prompt = fields.text("prompt", required=not transfer) or ""
        fields.text("negative_prompt")
        seed = self.harness.pick_seed(fields.integer("seed", 0, 4_294_967_294, 0))
        output_format = fields.choice("output_format", ("jpeg", "png", "webp"), "png") or "png"
        if transfer:
            style_strength = fields.number("style_strength", 0, 1, 1.0)
            fields.number("composition_fidelity", 0, 1, 0.9)
            change_strength = fields.number("change_strength", 0.1, 1, 0.9)
        else:
            fields.choice("style_preset", STYLE_PRESETS, None)
        if operation == "style":
            strength = fields.number("fidelity", 0, 1, 0.5)
            aspect_ratio = fields.choice("aspect_ratio", ASPECT_RATIOS, "1:1") or "1:1"
        elif not transfer:
            strength = fields.number("control_strength", 0, 1, 0.7)
        if fields.errors or image is None:
            return error(400, *fields.errors)
        source, reference = image, style

        def transform() -> Image.Image:
            if transfer:
                assert reference is not None
                # The init image, pulled towards the style image's colours as far as the strengths allow.
                weight = (style_strength or 0.0) * (change_strength or 0.0) * 0.6
                styled = reference.convert("RGB").resize(source.size).filter(ImageFilter.GaussianBlur(6))
                return Image.blend(source.convert("RGB"), styled, weight)
            if operation == "style":
                width, height = SIZES_1MP[aspect_ratio]
                drawn = render.render(prompt, seed=seed, width=width, height=height)
                palette = source.convert("RGB").resize((width, height)).filter(ImageFilter.GaussianBlur(12))
                return Image.blend(drawn, palette, 0.6 * (strength or 0.0))
            # sketch, structure: the prompt's render with the control image's dark lines drawn over it,
            # as dark as control_strength says (0: the render alone).
            drawn = render.render(prompt, seed=seed, width=source.width, height=source.height)
            grey = source.convert("L")
            if operation == "structure":
                grey = Image.eval(grey.filter(ImageFilter.FIND_EDGES), lambda v: 255 - v)
            ink = Image.eval(grey, lambda v: int((255 - v) * (strength or 0.0)))
            return Image.composite(Image.new("RGB", source.size, (20, 20, 20)), drawn, ink)

        return await self._sync_answer(fault, transform, output_format, seed, accept)

    # -- answers --

    async def _drawn(
        self, fault: Fault | None, transform: Transform, output_format: str
    ) -> tuple[bytes, bool]:
        """The encoded image and whether the output filter blurred it (a ``finish_reason`` fault of
        ``CONTENT_FILTERED``: a 200, billed, with the image blurred past recognition)."""
        content_filtered = bool(fault and fault.finish_reason == "CONTENT_FILTERED")

        def run() -> bytes:
            image = transform()
            return render.encode(self._filtered(image) if content_filtered else image, output_format)

        return await run_in_threadpool(run), content_filtered

    async def _sync_answer(
        self, fault: Fault | None, transform: Transform, output_format: str, seed: int, accept: str
    ) -> Response:
        data, content_filtered = await self._drawn(fault, transform, output_format)
        return self._image_answer(
            data, output_format, seed, "CONTENT_FILTERED" if content_filtered else "SUCCESS", accept
        )

    async def _submit_async(
        self, fault: Fault | None, transform: Transform, output_format: str, seed: int, *, model: str
    ) -> Response:
        data, content_filtered = await self._drawn(fault, transform, output_format)
        job = self.jobs.start(
            fault,
            in_progress_polls=self.in_progress_polls,
            model=model,
            outputs=[(data, f"image/{output_format}")],
            seed=seed,
            content_filtered=content_filtered,
        )
        return JSONResponse({"id": job.id})

    @route("GET", "/v2beta/results/{result_id}")
    async def _result(self, result_id: str, request: Request) -> Response:
        _, early = await self._start(request)
        if early is not None:
            return early
        polled = self.jobs.poll(result_id)
        if polled is None:
            return error(404, f"id: no result found for {result_id} (results are kept 24 hours)")
        job, in_progress = polled
        if in_progress:
            return JSONResponse({"id": job.id, "status": "in-progress"}, status_code=202)
        if job.error:
            return error(500, job.error)
        data, content_type = job.outputs[0]
        accept = self._accept(request)
        finish_reason = "CONTENT_FILTERED" if job.content_filtered else "SUCCESS"
        if accept == "json":
            body = {
                "result": base64.b64encode(data).decode("ascii"),
                "finish_reason": finish_reason,
                "seed": job.seed,
            }
            return JSONResponse(body, headers={"finish-reason": finish_reason, "seed": str(job.seed)})
        return Response(
            data, media_type=content_type, headers={"finish-reason": finish_reason, "seed": str(job.seed)}
        )
