"""One output image of an edit or upscale job and how it was obtained; the studio's ``deliver`` stores it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict, Unpack

from imagestudio.config import get_settings
from imagestudio.imaging.formats import extension, media_type
from imagestudio.jobs.runner import JobContext
from imagestudio.providers.http import describe_image
from imagestudio.providers.schemas import GeneratedImage
from imagestudio.studios.common.routes import LOCAL, Route

#: What a provider's image says of itself, under the same name in :class:`Produced`.
_IMAGE_FACTS = {"data", "content_type", "width", "height", "seed", "content_filtered"}


class Obtained(TypedDict):
    """How a provider's image was obtained (:meth:`Produced.from_image`)."""

    attempts: int
    simulated: bool
    seconds: float
    fallback_from: list[dict[str, Any]]
    remote_id: NotRequired[str | None]


@dataclass
class Produced:
    """One output image and how it was obtained."""

    data: bytes
    content_type: str
    width: int
    height: int
    route: Route
    seed: int | None = None
    attempts: int = 1
    simulated: bool = False
    seconds: float = 0.0
    fallback_from: list[dict[str, Any]] = field(default_factory=list)
    remote_id: str | None = None
    #: The vendor's output filter blurred it and billed it (Stability's CONTENT_FILTERED).
    content_filtered: bool = False

    @classmethod
    def from_image(cls, image: GeneratedImage, route: Route, **obtained: Unpack[Obtained]) -> Produced:
        """A provider's image: its facts under the names both carry, and how it was obtained."""
        return cls(**image.model_dump(include=_IMAGE_FACTS), route=route, **obtained)

    @classmethod
    def local_output(
        cls, data: bytes, route: Route, *, seconds: float, fallback_from: list[dict[str, Any]]
    ) -> Produced:
        width, height, content_type = describe_image(data, provider=LOCAL)
        return cls(
            data=data,
            content_type=content_type,
            width=width,
            height=height,
            route=route,
            seconds=seconds,
            fallback_from=fallback_from,
        )

    def metadata(self) -> dict[str, Any]:
        """What every edit/upscale output records about its making."""
        return {
            "path": LOCAL if self.route.local else "provider",
            "provider": self.route.provider,
            "model": self.route.model,
            "simulated": self.simulated,
            "credits": self.route.credits,
            "attempts": self.attempts,
            "fallback_from": self.fallback_from,
            "seed": self.seed,
            "remote_id": self.remote_id,
            "seconds": round(self.seconds, 3),
            "content_filtered": self.content_filtered,
        }


Deliver = Callable[[JobContext, Produced], None]
#: The encoder quality of an output re-encoded to the asked format, where the studio names none.
REENCODE_QUALITY = 92


def in_format(
    produced: Produced, output_format: str, *, quality: int = REENCODE_QUALITY
) -> tuple[bytes, str, str, str]:
    """The output in the asked format: (data, content type, format, extension); re-encoded only if needed."""
    if produced.content_type == media_type(output_format):
        return produced.data, produced.content_type, output_format, extension(output_format)
    from imagestudio.imaging import SourceImage, encode

    source = SourceImage.load(produced.data, max_pixels=get_settings().max_image_pixels)
    data, _, _ = encode(source.image, output_format=output_format, quality=quality)  # type: ignore[arg-type]
    return data, media_type(output_format), output_format, extension(output_format)


def store_output(
    ctx: JobContext,
    name: str,
    produced: Produced,
    *,
    output_format: str,
    prompt: str | None,
    metadata: dict[str, Any],
    quality: int = REENCODE_QUALITY,
) -> None:
    """Store ``produced`` as output ``name`` in ``output_format``: how it was made, then the studio's ``metadata``."""
    data, content_type, fmt, ext = in_format(produced, output_format, quality=quality)
    ctx.add_output(
        name,
        data,
        ext=ext,
        content_type=content_type,
        format=fmt,
        width=produced.width,
        height=produced.height,
        metadata={**produced.metadata(), **metadata},
        provider=produced.route.provider,
        prompt=prompt,
    )
