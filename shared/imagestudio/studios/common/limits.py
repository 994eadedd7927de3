"""Input limits of a path (a provider's published ones, or the local code's): 413/422 naming the field."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from imagestudio.errors import ImageTooLarge, ValidationFailed

#: Stability refuses requests over 10 MiB (413); we refuse them first, naming the field.
PROVIDER_MAX_REQUEST_BYTES = 10 * 1024 * 1024
#: Room left in a provider request for the multipart framing and text fields.
_FORM_OVERHEAD_BYTES = 64 * 1024
#: Aspect range (width / height) Stability accepts on outpaint, search, relight and conservative.
STABILITY_ASPECT = (1 / 2.5, 2.5)


@dataclass(frozen=True, kw_only=True)
class ImageLimits:
    """Input sizes one path accepts (a provider's published limits, or what the local code can hold)."""

    min_side: int = 64
    max_side: int | None = None
    min_pixels: int = 4_096
    max_pixels: int = 9_437_184
    #: (smallest, largest) width / height, or None for any shape.
    aspect: tuple[float, float] | None = None

    def check(self, *, field: str, width: int, height: int, who: str) -> None:
        """Raise 413 (too large) or 422 (too small, wrong shape) naming ``field``."""
        pixels = width * height
        if self.max_side is not None and max(width, height) > self.max_side:
            raise ImageTooLarge(
                field, f"{width}x{height} has a side over {who}'s {self.max_side:,} pixel limit"
            )
        if pixels > self.max_pixels:
            raise ImageTooLarge(
                field, f"{width}x{height} = {pixels:,} pixels is over {who}'s {self.max_pixels:,} pixel limit"
            )
        if min(width, height) < self.min_side:
            raise ValidationFailed(
                field, f"{width}x{height} has a side under {who}'s {self.min_side} pixel minimum"
            )
        if pixels < self.min_pixels:
            raise ValidationFailed(
                field,
                f"{width}x{height} = {pixels:,} pixels is under {who}'s {self.min_pixels:,} pixel minimum",
            )
        if self.aspect is not None:
            low, high = self.aspect
            ratio = width / height
            if not low - 1e-9 <= ratio <= high + 1e-9:
                raise ValidationFailed(
                    field,
                    f"{width}x{height} has an aspect ratio of {ratio:.2f}:1; {who} accepts "
                    f"{_ratio_label(low)} to {_ratio_label(high)}",
                )

    def describe(self) -> dict[str, Any]:
        """The sizes as catalogues show them, the aspect range as a label (``1:2.5 to 2.5:1``)."""
        sizes = {name: value for name, value in asdict(self).items() if name != "aspect"}
        aspect = (
            None
            if self.aspect is None
            else f"{_ratio_label(self.aspect[0])} to {_ratio_label(self.aspect[1])}"
        )
        return {**sizes, "aspect_ratio": aspect}


#: Stability's published v2beta input limits (edit, control, conservative upscale; sd3.5's init image):
#: each side at least 64 px, 4,096 to 9,437,184 pixels.
STABILITY_LIMITS = ImageLimits(min_side=64, min_pixels=4_096, max_pixels=9_437_184)
#: ... and, on outpaint, search, relight, control and conservative upscale, a shape of 1:2.5 to 2.5:1.
STABILITY_SHAPED = replace(STABILITY_LIMITS, aspect=STABILITY_ASPECT)


def _ratio_label(ratio: float) -> str:
    return f"{ratio:g}:1" if ratio >= 1 else f"1:{1 / ratio:g}"


def check_request_bytes(sizes: dict[str, int], *, who: str) -> None:
    """413 naming the largest upload when the provider request would pass its 10 MiB limit."""
    total = sum(sizes.values()) + _FORM_OVERHEAD_BYTES
    if total > PROVIDER_MAX_REQUEST_BYTES:
        largest = max(sizes, key=lambda name: sizes[name])
        parts = ", ".join(f"{name} {size:,}" for name, size in sizes.items())
        raise ImageTooLarge(
            largest,
            f"the request to {who} would be about {total:,} bytes ({parts}); "
            f"{who} accepts at most {PROVIDER_MAX_REQUEST_BYTES:,} bytes (10 MiB)",
        )
