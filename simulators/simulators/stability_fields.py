"""SIMULATOR of the Stability AI v2beta API: its published constants, error bodies and multipart field checks.

:class:`Fields` reads a form the way the API validates it (text, choices, bounded numbers, input
images by format, sides and pixels), collecting every problem so one 400 names them all.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from fastapi.responses import JSONResponse
from PIL import Image
from starlette.datastructures import FormData, UploadFile

from simulators import render

ASPECT_RATIOS = ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
STYLE_PRESETS = frozenset(
    "3d-model analog-film anime cinematic comic-book digital-art enhance fantasy-art isometric line-art "
    "low-poly modeling-compound neon-punk origami photographic pixel-art tile-texture".split()
)
SD3_MODELS = frozenset({"sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash"})
#: Retired sd3 ids the API re-routes to sd3.5 (since 2025-04-17).
SD3_ALIASES = {
    "sd3-large": "sd3.5-large",
    "sd3-large-turbo": "sd3.5-large-turbo",
    "sd3-medium": "sd3.5-medium",
}
EDIT_OPERATIONS = frozenset(
    {"erase", "inpaint", "outpaint", "search-and-replace", "search-and-recolor", "remove-background",
     "replace-background-and-relight"}
)  # fmt: skip
UPSCALE_MODES = frozenset({"fast", "conservative", "creative"})
#: ``creativity`` range per upscale mode (fast takes none): conservative 0.2-0.5, creative 0.1-0.5.
UPSCALE_CREATIVITY = {"fast": (0.0, 0.0), "conservative": (0.2, 0.5), "creative": (0.1, 0.5)}
#: ``grow_mask`` of erase, inpaint, search-and-replace and search-and-recolor: 0-20 pixels.
MAX_GROW_MASK = 20
CONTROL_OPERATIONS = frozenset({"sketch", "structure", "style", "style-transfer"})
#: Control inputs: aspect ratio between 1:2.5 and 2.5:1 (sides and pixels as the edit endpoints).
CONTROL_ASPECT = (1 / 2.5, 2.5)
#: About 1 MP output sizes per aspect ratio (ultra, sd3).
SIZES_1MP = {
    "1:1": (1024, 1024), "16:9": (1344, 768), "9:16": (768, 1344), "21:9": (1536, 640), "9:21": (640, 1536),
    "3:2": (1216, 832), "2:3": (832, 1216), "5:4": (1088, 896), "4:5": (896, 1088),
}  # fmt: skip
MAX_REQUEST_BYTES = 10 * 1024 * 1024
#: Input image formats the API reads ("Supported Formats: jpeg, png, webp"); others are a 400.
INPUT_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})

ERROR_NAMES = {
    400: "bad_request", 401: "unauthorized", 402: "payment_required", 403: "content_moderation",
    404: "not_found", 413: "payload_too_large", 422: "invalid_request", 429: "rate_limit_exceeded",
    500: "internal_error", 503: "service_unavailable",
}  # fmt: skip


def error(status: int, *errors: str) -> JSONResponse:
    return JSONResponse({"id": uuid.uuid4().hex, "name": ERROR_NAMES.get(status, "error"), "errors": list(errors)},
                        status_code=status)  # fmt: skip


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "name": ERROR_NAMES.get(status, "error"), "errors": [message]}


class Fields:
    """Reads multipart fields the way the API validates them, collecting every problem."""

    def __init__(self, form: FormData) -> None:
        self.form = form
        self.errors: list[str] = []

    def text(self, name: str, *, required: bool = False, max_length: int = 10_000) -> str | None:
        value = self.form.get(name)
        if isinstance(value, UploadFile):
            self.errors.append(f"{name}: expected a text field")
            return None
        if not value:
            if required:
                self.errors.append(f"{name}: is required")
            return None
        if len(value) > max_length:
            self.errors.append(f"{name}: must be at most {max_length} characters")
        return value

    def choice(self, name: str, allowed: frozenset[str] | tuple[str, ...], default: str | None) -> str | None:
        value = self.text(name)
        if value is None:
            return default
        if value not in allowed:
            self.errors.append(f"{name}: must be one of {', '.join(sorted(allowed))}")
        return value

    def number(self, name: str, low: float, high: float, default: float | None = None) -> float | None:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            self.errors.append(f"{name}: must be a number")
            return default
        if not low <= number <= high or math.isnan(number):
            self.errors.append(f"{name}: must be between {low:g} and {high:g}")
        return number

    def integer(self, name: str, low: int, high: int, default: int) -> int:
        value = self.number(name, low, high)
        if value is None:
            return default
        if not value.is_integer():
            self.errors.append(f"{name}: must be an integer")
        return int(value)

    async def image(
        self, name: str, *, required: bool, min_side: int = 64, min_pixels: int = 4096, max_pixels: int = 9_437_184,
        max_side: int = 16_384,
    ) -> Image.Image | None:  # fmt: skip
        upload = self.form.get(name)
        if not isinstance(upload, UploadFile):
            if required:
                self.errors.append(f"{name}: is required")
            return None
        data = await upload.read()
        try:
            image = render.decode(data)
        except ValueError as exc:
            self.errors.append(f"{name}: {exc}")
            return None
        if render.image_format(data) not in INPUT_FORMATS:
            self.errors.append(f"{name}: unsupported image format; expected jpeg, png or webp")
            return None
        width, height = image.size
        if min(width, height) < min_side or max(width, height) > max_side:
            self.errors.append(f"{name}: each side must be between {min_side} and {max_side} pixels")
        elif not min_pixels <= width * height <= max_pixels:
            self.errors.append(f"{name}: total pixel count must be between {min_pixels} and {max_pixels}")
        return image
