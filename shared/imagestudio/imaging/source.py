"""An upload decoded once (:class:`SourceImage`), and what a provider is sent of one.

One type for every decoded source, with the two decodes the studios need: :meth:`SourceImage.load`
for rendering (upright sRGB, metadata stripped, the first frame, reduced for known output sizes;
the social, create and local studios) and :meth:`SourceImage.load_frames` for compressing (every
frame, the ICC profile kept; the compress studio).
"""

from __future__ import annotations

import io
import math
from collections.abc import Collection
from typing import Final, get_args

import numpy as np
import numpy.typing as npt
import pyvips  # type: ignore[import-untyped, unused-ignore]
from PIL import ImageCms

from imagestudio.errors import ValidationFailed

from .codec import (
    _decode_error,
    _open,
    _pillow_decode,
    _without_metadata,
    encode,
    inspect_image,
    to_srgb,
    verify_pixels,
)
from .formats import OutputFormat
from .sizing import render_scale, resize_exact

__all__ = ["PROVIDER_FORMATS", "SourceImage", "held_size", "provider_ready"]

#: Formats every image provider reads (Stability: "jpeg, png, webp": the studios' output formats); the
#: others we accept are re-encoded by ``provider_ready`` before they are sent.
PROVIDER_FORMATS: Final = frozenset(get_args(OutputFormat))
#: JPEG quality of an upload re-encoded for a provider: close to the source, well under its byte limit.
_PROVIDER_QUALITY: Final = 95


class SourceImage:
    """An upload decoded once, upright and 8 bits a sample; every output of its job reads it again.

    ``width`` and ``height`` are one upright frame's, and every box (crops, faces, subjects) is in
    its pixels. ``image`` holds those pixels (every frame stacked, ``frames`` of them), or, when
    loaded for known output sizes, a copy reduced to what the largest of them needs (``held_box``
    maps a box onto it).
    """

    def __init__(
        self,
        image: pyvips.Image,
        *,
        size: tuple[int, int] | None = None,
        format: str = "",
        frames: int = 1,
    ) -> None:
        """Wrap an upright 8-bit image already in memory.

        ``size`` is the upright source's (width, height) when ``image`` is a reduced copy of it;
        otherwise one frame of ``image``.
        """
        self.image: pyvips.Image = image
        width, height = size or (int(image.width), int(image.height) // frames)
        self.width: int = width
        self.height: int = height
        self.has_alpha: bool = bool(image.hasalpha())
        #: The format the upload was (as ``inspect_image`` names it); empty when not loaded from bytes.
        self.format = format
        #: Frames of an animation, stacked in ``image`` (``load`` keeps the first only).
        self.frames = frames
        #: The file's pixels were turned upright from an EXIF orientation (its bytes show them otherwise).
        self.rotated = False
        # Filled lazily by ``imaging.crop``: detection and saliency cost more than a render, and a
        # job renders many formats from one source.
        self.faces: tuple[tuple[int, int, int, int], ...] | None = None
        #: Salient centre per crop-box size: libvips' attention blur depends on the box.
        self.attention: dict[tuple[int, int], tuple[float, float]] = {}
        #: The subject's box on a plain background, once looked for (None: busy or empty picture).
        self.subject: tuple[int, int, int, int] | None = None
        self.subject_searched: bool = False

    @classmethod
    def load(
        cls,
        data: bytes,
        *,
        max_pixels: int,
        field: str = "image",
        sizes: Collection[tuple[int, int]] = (),
    ) -> SourceImage:
        """Decode an upload (pixel limit checked from the header first) into an upright sRGB image.

        With ``sizes`` (every width x height the source will be rendered to) the copy kept is
        reduced, while decoding, to the scale the largest of them can need (``sizing.render_scale``):
        the full-size image is never held, and no output is enlarged from the smaller copy.
        """
        # Sequential access decodes straight into the one in-memory copy below; random access
        # (needed only to turn or flip the image, which reads it out of order) first decodes into
        # a cache of its own, a second full-size copy at the peak.
        opened = _open(data, max_pixels=max_pixels, field=field, access="sequential")
        if opened.vips is not None and opened.orientation != 1:
            opened = _open(data, max_pixels=max_pixels, field=field, access="random")
        if opened.vips is None:
            image = _pillow_decode(opened.pillow_data, field, opened.format)
        else:
            image = opened.vips
        try:
            # Phones store rotation in EXIF; users expect the pixels the way their viewer shows them.
            image = image.autorot()
            image = to_srgb(image)
            size = int(image.width), int(image.height)
            held = held_size(size, sizes)
            if held != size:
                # Reduced as the rows are decoded: once, with the kernel the outputs use.
                image = resize_exact(image, *held)
            # Decode once into memory: every output of the job reads this copy again.
            image = _without_metadata(image).copy_memory()
        except pyvips.Error as exc:
            raise _decode_error(field, opened.format) from exc
        return cls(image, size=size, format=opened.format)

    @classmethod
    def load_frames(cls, data: bytes, *, max_pixels: int, field: str = "image") -> SourceImage:
        """Decode every frame, its profile kept (the pixel limit and the file's soundness checked as for any upload)."""
        info = inspect_image(data, max_pixels=max_pixels, max_bytes=len(data), field=field)
        if info.format == "bmp":  # only Pillow reads it: one frame, sRGB
            return cls(cls.load(data, max_pixels=max_pixels, field=field).image, format="bmp")
        try:
            probe = pyvips.Image.new_from_buffer(data, "", access="sequential")
            rotated = False
            frames = int(probe.get("n-pages")) if probe.get_typeof("n-pages") else 1
            animated = frames > 1 and info.format in ("gif", "webp")
            # Sequential: decoded once, straight into the copy kept below (a random-access load
            # decodes into a copy of its own first, which libvips' operation cache then holds).
            if animated:
                image = pyvips.Image.new_from_buffer(data, "", n=-1, fail_on="error", access="sequential")
                height = int(image.get("page-height"))
            else:
                loaded = pyvips.Image.new_from_buffer(data, "", fail_on="error", access="sequential")
                rotated = loaded.get_typeof("orientation") != 0 and int(loaded.get("orientation")) != 1
                # Turning reads the pixels out of order: a turned image is held once before it turns.
                image = (loaded.copy_memory() if rotated else loaded).autorot()
                frames, height = 1, int(image.height)
            if image.format != "uchar" or image.interpretation not in ("srgb", "b-w"):
                image = to_srgb(image)  # 16-bit, CMYK, Lab: to 8-bit sRGB through its profile
            image = image.copy_memory()
        except pyvips.Error as exc:
            raise ValidationFailed(field, f"the {info.format.upper()} file is truncated or corrupt") from exc
        loaded_source = cls(image, size=(int(image.width), height), format=info.format, frames=frames)
        loaded_source.rotated = rotated
        return loaded_source

    def held_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """``box`` (source pixels) as the nearest box of ``image``'s pixels, at least one pixel each way."""
        held_w, held_h = int(self.image.width), int(self.image.height)
        if (held_w, held_h) == (self.width, self.height):
            return box
        sx, sy = held_w / self.width, held_h / self.height
        left, top = min(held_w - 1, round(box[0] * sx)), min(held_h - 1, round(box[1] * sy))
        right = min(held_w, max(left + 1, round((box[0] + box[2]) * sx)))
        bottom = min(held_h, max(top + 1, round((box[1] + box[3]) * sy)))
        return left, top, right - left, bottom - top

    def source_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """``box`` found in ``image``'s pixels, in the source's pixels."""
        held_w, held_h = int(self.image.width), int(self.image.height)
        if (held_w, held_h) == (self.width, self.height):
            return box
        sx, sy = self.width / held_w, self.height / held_h
        left, top = round(box[0] * sx), round(box[1] * sy)
        right = min(self.width, round((box[0] + box[2]) * sx))
        bottom = min(self.height, round((box[1] + box[3]) * sy))
        return left, top, right - left, bottom - top

    @property
    def icc(self) -> bytes | None:
        """The embedded ICC profile, if any (``load`` strips it; ``load_frames`` keeps it)."""
        if not self.image.get_typeof("icc-profile-data"):
            return None
        return bytes(self.image.get("icc-profile-data"))

    @property
    def icc_matters(self) -> bool:
        """Whether the colours depend on the embedded profile: any profile but sRGB (which viewers assume)."""
        icc = self.icc
        return icc is not None and not _is_srgb_profile(icc)

    def to_srgb(self) -> SourceImage:
        """The same frames converted to sRGB through the embedded profile (which is then dropped)."""
        if self.icc is None and self.image.interpretation in ("srgb", "b-w"):
            return self
        image = to_srgb(self.image)
        image = image.copy()
        image.remove("icc-profile-data")
        return self._with(image.copy_memory())

    def flattened(self, background: tuple[int, int, int]) -> SourceImage:
        """Alpha composited over ``background`` (JPEG and BMP have no alpha; or the client asked)."""
        if not self.has_alpha:
            return self
        image = self.image
        if image.bands == 2:  # grey + alpha: the background's grey
            flat = image.flatten(background=[round(sum(background) / 3)])
        else:
            flat = image.flatten(background=list(background))
        return self._with(flat.cast("uchar").copy_memory())

    def first_frame(self) -> SourceImage:
        """The first frame alone (for an encoding that cannot animate)."""
        if self.frames == 1:
            return self
        frame = self.image.crop(0, 0, self.width, self.height).copy_memory()
        return SourceImage(frame, format=self.format)

    def pixels(self) -> npt.NDArray[np.uint8]:
        """Every frame's pixels, H x W x bands (a copy: :meth:`rows` reads a band without one)."""
        return pixel_array(self.image)

    def rows(self, start: int, stop: int) -> npt.NDArray[np.uint8]:
        """Rows ``start`` to ``stop`` of the stacked frames, H x W x bands (what SSIM reads a band of)."""
        return pixel_array(self.image.crop(0, start, self.width, stop - start))

    def _with(self, image: pyvips.Image) -> SourceImage:
        return SourceImage(image, size=(self.width, self.height), format=self.format, frames=self.frames)


def held_size(size: tuple[int, int], sizes: Collection[tuple[int, int]]) -> tuple[int, int]:
    """The size of the copy ``SourceImage.load`` keeps of an upright ``size`` source for output ``sizes``."""
    scale = render_scale(*size, sizes) if sizes else 1.0
    if scale >= 1.0:
        return size
    return math.ceil(size[0] * scale), math.ceil(size[1] * scale)


def provider_ready(data: bytes, *, max_pixels: int, field: str = "image") -> bytes:
    """Decode an upload once (``InvalidImage`` naming ``field`` when damaged) and return what a provider is sent.

    JPEG, PNG and WebP stored upright go as they are. Anything else the gateway accepts (GIF, TIFF,
    HEIF, BMP) and any photo with an EXIF turn or mirror is re-encoded upright (the first frame;
    PNG when it has alpha, else JPEG): providers read only those three formats, and every limit
    and mask size was checked on the upright size, which is what the provider must then see.
    """
    opened = _open(data, max_pixels=max_pixels, field=field, access="sequential")
    if opened.format in PROVIDER_FORMATS and opened.orientation == 1:
        verify_pixels(data, max_pixels=max_pixels, field=field)
        return data
    source = SourceImage.load(data, max_pixels=max_pixels, field=field)  # decodes every pixel
    output_format: OutputFormat = "png" if source.has_alpha else "jpeg"
    encoded, _, _ = encode(source.image, output_format=output_format, quality=_PROVIDER_QUALITY)
    return encoded


def pixel_array(image: pyvips.Image) -> npt.NDArray[np.uint8]:
    """An 8-bit image's pixels as H x W x bands, one copy (pyvips' ``numpy()`` drops a single
    band's axis, and a single grey pixel's every axis)."""
    return np.frombuffer(image.write_to_memory(), np.uint8).reshape(image.height, image.width, image.bands)


def _is_srgb_profile(icc: bytes) -> bool:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile)
    except (OSError, ImageCms.PyCMSError):
        return False  # unreadable: keep it rather than guess the colours
    return "srgb" in description.lower().replace(" ", "").replace("-", "")
