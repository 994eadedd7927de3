"""What crosses the provider boundary: requests and results in our terms, and the catalogue entry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from imagestudio.imaging.formats import OutputFormat

__all__ = [
    "ASPECT_RATIOS",
    "MAX_GROW_MASK",
    "UPSCALE_CREATIVITY",
    "ControlOperation",
    "ControlRequest",
    "EditOperation",
    "EditRequest",
    "GeneralEditRequest",
    "GeneratedImage",
    "GenerationRequest",
    "ModelInfo",
    "OutputFormat",
    "PendingResult",
    "MAX_SEED",
    "Quality",
    "Seed",
    "UpscaleMode",
    "UpscaleRequest",
]

Quality = Literal["draft", "standard", "premium"]
#: Largest seed a request may name. WaveSpeed documents 0..2**31 - 1 and Stability 0..4,294,967,294:
#: the smaller range is the one every provider takes, so a seed means the same job whichever
#: provider a route or a fallback lands on.
MAX_SEED: Final = 2**31 - 1
#: The seed of any request, a studio's or a provider's.
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
EditOperation = Literal[
    "erase",
    "inpaint",
    "outpaint",
    "search-and-replace",
    "search-and-recolor",
    "remove-background",
    "replace-background-and-relight",
]
UpscaleMode = Literal["fast", "conservative", "creative"]
#: Stability's control endpoints (``/v2beta/stable-image/control/{operation}``).
ControlOperation = Literal["sketch", "structure", "style", "style-transfer"]

#: Stability's ``grow_mask`` range (erase, inpaint, search-and-replace, search-and-recolor): 0-20 pixels.
MAX_GROW_MASK = 20
#: Stability's ``creativity`` range per upscale mode (conservative 0.2-0.5, creative 0.1-0.5; fast takes none).
UPSCALE_CREATIVITY: dict[str, tuple[float, float]] = {
    "fast": (0.0, 0.5),
    "conservative": (0.2, 0.5),
    "creative": (0.1, 0.5),
}

#: Aspect ratios Image Studio speaks; each client maps them onto what its provider accepts.
ASPECT_RATIOS: tuple[str, ...] = (
    "1:1", "16:9", "9:16", "21:9", "9:21", "2:3", "3:2", "4:5", "5:4", "3:4", "4:3",
)  # fmt: skip


class GenerationRequest(BaseModel):
    """A text-to-image request in our terms; each client maps it onto its provider's fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=1, max_length=10_000)
    negative_prompt: str | None = Field(default=None, max_length=10_000)
    #: Provider model id (see the registry); ``None`` means the client's default model.
    model: str | None = None
    aspect_ratio: str | None = Field(default=None, pattern=r"^\d+(\.\d+)?:\d+(\.\d+)?$")
    width: int | None = Field(default=None, ge=64, le=8192)
    height: int | None = Field(default=None, ge=64, le=8192)
    #: ``None`` lets the provider pick; image ``i`` of a batch uses ``seed + i``.
    seed: Seed | None = None
    style_preset: str | None = None
    count: int = Field(default=1, ge=1, le=10)
    quality: Quality = "standard"
    output_format: OutputFormat = "png"
    guidance_scale: float | None = Field(default=None, ge=0, le=50)
    steps: int | None = Field(default=None, ge=1, le=150)
    #: Image-to-image: the image to start from, and how far to move from it (0 keeps it, 1 ignores it).
    init_image: bytes | None = Field(default=None, repr=False)
    strength: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _check_image_to_image(self) -> Self:
        if (self.init_image is None) != (self.strength is None):
            raise ValueError("image-to-image needs both init_image and strength")
        return self


class GeneratedImage(BaseModel):
    """One image a provider returned, with what we know about how it was made."""

    model_config = ConfigDict(frozen=True)

    data: bytes = Field(repr=False)
    content_type: str
    width: int
    height: int
    seed: int | None = None
    provider: str
    model: str
    #: The vendor's output filter blurred the image and still billed it (Stability's
    #: ``finish-reason: CONTENT_FILTERED``): delivered and charged, and reported as such.
    content_filtered: bool = False


def _require(values: Mapping[str, object], names: Sequence[str], what: str) -> None:
    missing = [name for name in names if not values.get(name)]
    if missing:
        raise ValueError(f"{what} requires {', '.join(missing)}")


class EditRequest(BaseModel):
    """A Stability edit (``/v2beta/stable-image/edit/{operation}``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: EditOperation
    image: bytes = Field(repr=False)
    mask: bytes | None = Field(default=None, repr=False)
    prompt: str | None = Field(default=None, max_length=10_000)
    search_prompt: str | None = Field(default=None, max_length=10_000)
    select_prompt: str | None = Field(default=None, max_length=10_000)
    negative_prompt: str | None = Field(default=None, max_length=10_000)
    left: int = Field(default=0, ge=0, le=2000)
    right: int = Field(default=0, ge=0, le=2000)
    up: int = Field(default=0, ge=0, le=2000)
    down: int = Field(default=0, ge=0, le=2000)
    grow_mask: int | None = Field(default=None, ge=0, le=MAX_GROW_MASK)
    creativity: float | None = Field(default=None, ge=0, le=1)
    seed: Seed | None = None
    style_preset: str | None = None
    output_format: OutputFormat = "png"
    #: Relight only: at least one of these two references is required.
    background_reference: bytes | None = Field(default=None, repr=False)
    light_reference: bytes | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _check_operation_fields(self) -> Self:
        values = self.model_dump(exclude={"image"})
        if self.operation == "inpaint":
            _require(values, ["prompt"], "inpaint")
        elif self.operation == "outpaint":
            if not any((self.left, self.right, self.up, self.down)):
                raise ValueError("outpaint requires at least one of left, right, up, down")
        elif self.operation == "search-and-replace":
            _require(values, ["prompt", "search_prompt"], "search-and-replace")
        elif self.operation == "search-and-recolor":
            _require(values, ["prompt", "select_prompt"], "search-and-recolor")
        elif self.operation == "replace-background-and-relight":
            if not (self.background_reference or self.light_reference or self.prompt):
                raise ValueError("relight requires a background or light reference (or a prompt)")
        return self


class UpscaleRequest(BaseModel):
    """A Stability upscale (``/v2beta/stable-image/upscale/{mode}``); ``creative`` is asynchronous."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: UpscaleMode
    image: bytes = Field(repr=False)
    prompt: str | None = Field(default=None, max_length=10_000)
    negative_prompt: str | None = Field(default=None, max_length=10_000)
    creativity: float | None = Field(default=None, ge=0, le=0.5)
    seed: Seed | None = None
    style_preset: str | None = None
    output_format: OutputFormat = "png"

    @model_validator(mode="after")
    def _check_prompt(self) -> Self:
        if self.mode != "fast" and not self.prompt:
            raise ValueError(f"{self.mode} upscale requires a prompt")
        low, high = UPSCALE_CREATIVITY[self.mode]
        if self.creativity is not None and not low <= self.creativity <= high:
            raise ValueError(f"{self.mode} upscale takes creativity {low:g} to {high:g}")
        return self


class ControlRequest(BaseModel):
    """A Stability control call (``/v2beta/stable-image/control/{operation}``).

    ``image`` is the sketch, the structure image or the style reference; style-transfer's
    ``image`` is its ``init_image`` and ``style_image`` the style to take. Every strength is sent
    as given, ``0.0`` included (``None`` leaves the provider's default).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: ControlOperation
    image: bytes = Field(repr=False)
    style_image: bytes | None = Field(default=None, repr=False)
    prompt: str | None = Field(default=None, max_length=10_000)
    negative_prompt: str | None = Field(default=None, max_length=10_000)
    control_strength: float | None = Field(default=None, ge=0, le=1)
    fidelity: float | None = Field(default=None, ge=0, le=1)
    style_strength: float | None = Field(default=None, ge=0, le=1)
    composition_fidelity: float | None = Field(default=None, ge=0, le=1)
    change_strength: float | None = Field(default=None, ge=0.1, le=1)
    aspect_ratio: str | None = None
    seed: Seed | None = None
    style_preset: str | None = None
    output_format: OutputFormat = "png"

    @model_validator(mode="after")
    def _check_operation_fields(self) -> Self:
        if self.operation == "style-transfer":
            if not self.style_image:
                raise ValueError("style-transfer requires a style_image")
        elif not self.prompt:
            raise ValueError(f"control {self.operation} requires a prompt")
        return self


class GeneralEditRequest(BaseModel):
    """A prompt-driven edit on a WaveSpeed edit model (qwen-edit, seedream, flux-kontext-pro...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=1, max_length=10_000)
    images: list[bytes] = Field(min_length=1, max_length=10, repr=False)
    mask: bytes | None = Field(default=None, repr=False)
    negative_prompt: str | None = None
    model: str | None = None
    guidance_scale: float | None = Field(default=None, ge=0, le=50)
    steps: int | None = Field(default=None, ge=1, le=150)
    seed: int | None = Field(default=None, ge=0, le=2_147_483_647)
    output_format: OutputFormat = "png"


class PendingResult(BaseModel):
    """Asynchronous provider work in flight; small and JSON-safe so a worker can put it in a message."""

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    remote_id: str
    #: What was submitted (``generate``, ``edit:...``, ``upscale:creative``), for logs and metrics.
    kind: str = "generate"
    seed: int | None = None


class ModelInfo(BaseModel):
    """Catalogue entry for one provider model: what it can do and what one image costs us."""

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    kind: Literal["generate", "edit", "upscale", "control"] = "generate"
    label: str = ""
    quality: Quality | None = None
    #: Our credits per output image (1 credit = USD 0.01), not the provider's own units.
    credits_per_image: float
    max_images_per_call: int = 1
    aspect_ratios: tuple[str, ...] = ("1:1",)
    #: Output size: megapixels when the provider picks the size, else the longest side allowed.
    megapixels: float | None = None
    max_side: int | None = None
    style_presets: tuple[str, ...] = ()
    image_to_image: bool = False
    #: A generate model that takes only an init image with its prompt (no text-to-image here).
    text_to_image: bool = True
    #: Image-to-image: the API takes a strength (how far to move from the init image); else it is not applied.
    image_strength: bool = False
    #: Image-to-image with no size asked: the output keeps the init image's shape (nothing to fit or crop).
    keeps_init_shape: bool = False
    edit_operations: tuple[str, ...] = ()
    asynchronous: bool = False
    #: Formats the vendor can return; any other asked format is converted locally after download.
    output_formats: tuple[OutputFormat, ...] = ("png", "jpeg", "webp")
    #: The vendor's inclusive ranges of ``num_inference_steps`` / ``guidance_scale`` (``None``: not taken).
    steps_range: tuple[int, int] | None = None
    guidance_range: tuple[float, float] | None = None
    #: Lifecycle as the vendor publishes it (``None``: nothing announced): the day the vendor announced
    #: it deprecated, and the day it stops answering. From ``shutdown_on`` on it is never offered.
    deprecated_on: date | None = None
    shutdown_on: date | None = None
    #: Where the lifecycle dates come from (the vendor's page), for the catalogue and docs.
    lifecycle_source: str = ""

    def served_on(self, day: date) -> bool:
        """Whether the vendor still serves this model on ``day`` (its shutdown date not reached)."""
        return self.shutdown_on is None or day < self.shutdown_on

    @property
    def capabilities(self) -> tuple[str, ...]:
        """What the model does, in the catalogue's words: text-to-image, image-to-image, edit, upscale, control."""
        if self.kind != "generate":
            return (self.kind,)
        return tuple(
            name
            for name, has in (("text-to-image", self.text_to_image), ("image-to-image", self.image_to_image))
            if has
        )
