"""The social optimizer's pixels: one upload rendered per platform format, previews and the zip."""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final, get_args

import numpy as np
import pyvips  # type: ignore[import-untyped, unused-ignore]

from imagestudio.errors import ValidationFailed

from .codec import Rendered, SubjectPlacement, encode
from .colour import hex_rgb
from .crop import (
    DEFAULT_MAX_ZOOM,
    Box,
    CropMode,
    CropPlan,
    SafeZone,
    check_focal_point,
    check_output_size,
    detect_faces,
    plan_crop,
)
from .formats import OutputFormat, media_type
from .heap import release_freed_memory
from .sizing import resize_exact
from .source import SourceImage

__all__ = [
    "CropMode",
    "OutputPlan",
    "SafeZone",
    "plan_output",
    "render_format",
    "safe_zone_overlay",
    "subject_placement",
    "zip_outputs",
]

#: Colour of the safe-zone border in previews: magenta is rare in photos, so it always shows.
SAFE_ZONE_COLOUR: Final = (255, 0, 255)
#: Brightness kept outside the safe zone in previews.
SAFE_ZONE_SHADE: Final = 0.4
#: Fraction of each edge sampled for the "auto" letterbox colour.
BORDER_SAMPLE: Final = 0.03
#: Extensions whose data is already compressed; deflating them again only costs CPU.
_COMPRESSED_SUFFIXES: Final = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif", ".heic", ".zip"}
_UNSAFE_NAME_CHARS: Final = re.compile(r"[^A-Za-z0-9._-]+")


def render_format(
    source: SourceImage,
    *,
    width: int,
    height: int,
    mode: CropMode = "smart",
    focal_point: tuple[float, float] | None = None,
    background: str = "auto",
    output_format: OutputFormat = "jpeg",
    quality: int = 90,
    max_bytes: int | None = None,
    safe_zone: SafeZone | None = None,
    max_zoom: float = DEFAULT_MAX_ZOOM,
    crop_box: Box | None = None,
) -> Rendered:
    """Render exactly width x height: crop (smart/center) and resample, or fit on a background.

    With a ``safe_zone``, a smart crop places the faces or subject inside it when the source has room,
    zooming in up to ``max_zoom`` when that is what it takes, and the result says where they landed
    and at what zoom (``Rendered.subject``). A ``crop_box`` the user set is cropped as it is, whatever
    the mode (``plan_output``). A source loaded for other output
    sizes (``SourceImage.load(sizes=...)``) refuses, with ``ValueError``, a crop it would have to enlarge.
    """
    # Validate everything before any pixel work, so a bad request fails fast and the same way
    # whatever the mode.
    check_output_size(width, height)
    fill = _parse_background(background)
    if focal_point is not None:
        check_focal_point(focal_point)
    if output_format not in get_args(OutputFormat):
        raise ValidationFailed("output_format", f"must be one of {', '.join(get_args(OutputFormat))}")
    if not 1 <= quality <= 100:
        raise ValidationFailed("quality", f"must be between 1 and 100, got {quality}")
    if max_bytes is not None and max_bytes < 1:
        raise ValidationFailed("max_bytes", f"must be positive, got {max_bytes}")

    planned = plan_output(
        source,
        width=width,
        height=height,
        mode=mode,
        focal_point=focal_point,
        safe_zone=safe_zone,
        max_zoom=max_zoom,
        crop_box=crop_box,
    )
    crop_box, subject = planned.crop_box, planned.placement
    if crop_box is None:
        image = _fit(source.image, width, height, fill)
    elif crop_box is not None:
        held = source.held_box(crop_box)
        if held[2] + 1 < min(width, crop_box[2]) or held[3] + 1 < min(height, crop_box[3]):
            # The source was loaded reduced for other sizes; enlarging its copy would blur this one.
            raise ValueError(
                f"the source was not loaded for a {width}x{height} output (SourceImage.load sizes)"
            )
        image = resize_exact(source.image.crop(*held), width, height)

    data, used_quality, fits = encode(
        image, output_format=output_format, quality=quality, max_bytes=max_bytes
    )
    del image
    # A job renders its outputs one after another: the next one's peak should not sit on this one's.
    release_freed_memory()
    return Rendered(
        data=data,
        width=width,
        height=height,
        format=output_format,
        content_type=media_type(output_format),
        quality=used_quality,
        crop_box=crop_box,
        fits_size_limit=fits,
        subject=subject,
    )


@dataclass(frozen=True)
class OutputPlan:
    """What one output's render will do, known before any pixel of it is made (``POST /social/plan``)."""

    #: The crop in source pixels; None in fit mode (the whole image is letterboxed).
    crop_box: Box | None
    #: Where the faces or subject land in the output, at what zoom; None in fit, centre or focal mode.
    placement: SubjectPlacement | None
    #: What the crop was placed to keep, in source pixels: the faces' or subject's box.
    subject_box: Box | None
    #: Every face found in the source, in source pixels.
    faces: tuple[Box, ...]


def plan_output(
    source: SourceImage,
    *,
    width: int,
    height: int,
    mode: CropMode = "smart",
    focal_point: tuple[float, float] | None = None,
    safe_zone: SafeZone | None = None,
    max_zoom: float = DEFAULT_MAX_ZOOM,
    crop_box: Box | None = None,
) -> OutputPlan:
    """The crop box, zoom and placement ``render_format`` uses for this output, without rendering it.

    A ``crop_box`` the user set (source pixels, checked by the caller) is the crop, in any mode:
    nothing is placed, so there is no placement, subject or face.
    """
    check_output_size(width, height)
    if crop_box is not None:
        return OutputPlan(crop_box, None, None, ())
    if mode == "fit":
        return OutputPlan(None, None, None, ())
    if mode not in ("smart", "center"):
        raise ValidationFailed("mode", f"must be smart, center or fit, got {mode!r}")
    plan = plan_crop(
        source,
        width=width,
        height=height,
        mode=mode,
        focal_point=focal_point,
        safe_zone=safe_zone,
        max_zoom=max_zoom,
    )
    faces = detect_faces(source) if plan.placed_on == "faces" else ()
    return OutputPlan(plan.box, subject_placement(plan, width, height, safe_zone), plan.subject, faces)


def subject_placement(
    plan: CropPlan, width: int, height: int, safe_zone: SafeZone | None
) -> SubjectPlacement | None:
    """Where the plan's faces or subject land in the width x height output, and if that is in the safe zone.

    None for a box the user placed (centre or focal point): there was nothing to place.
    """
    if plan.placed_on not in ("faces", "subject", "attention"):
        return None
    box: tuple[int, int, int, int] | None = None
    inside = None
    if plan.subject is not None:
        crop_left, crop_top, crop_w, crop_h = plan.box
        sx, sy = width / crop_w, height / crop_h
        x, y, w, h = plan.subject
        left = max(0, math.floor((x - crop_left) * sx))
        top = max(0, math.floor((y - crop_top) * sy))
        right = min(width, math.ceil((x + w - crop_left) * sx))
        bottom = min(height, math.ceil((y + h - crop_top) * sy))
        box = (left, top, max(0, right - left), max(0, bottom - top))
        if safe_zone is not None:
            # A pixel of slack for the rounding between source and output pixels.
            inside = (
                left >= safe_zone.left * width - 1
                and top >= safe_zone.top * height - 1
                and right <= width * (1 - safe_zone.right) + 1
                and bottom <= height * (1 - safe_zone.bottom) + 1
            )
    # Inside by the pixel of slack though the search found no zoom: nothing held it out after all.
    zoom_limit = "none" if inside and plan.zoom_limit != "no_safe_zone" else plan.zoom_limit
    return SubjectPlacement(plan.placed_on, box, inside, plan.faces, plan.zoom, zoom_limit)


def safe_zone_overlay(rendered: Rendered, safe_zone: SafeZone) -> Rendered:
    """A PNG preview of an output: outside the safe zone shaded, the zone's edge drawn in magenta."""
    image = pyvips.Image.new_from_buffer(rendered.data, "")
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    image = image.extract_band(0, n=3).copy(interpretation="srgb")
    w, h = image.width, image.height
    left, top = round(safe_zone.left * w), round(safe_zone.top * h)
    right, bottom = w - round(safe_zone.right * w), h - round(safe_zone.bottom * h)
    inside_w, inside_h = max(1, right - left), max(1, bottom - top)

    inside = pyvips.Image.black(w, h).draw_rect(255, left, top, inside_w, inside_h, fill=True)
    shaded = (image * SAFE_ZONE_SHADE).cast("uchar")
    preview = inside.ifthenelse(image, shaded)
    # 2 px on phone-sized outputs, 3 px on large ones: visible without hiding content.
    thickness = min(3, max(2, round(min(w, h) / 600)))
    for ring in range(thickness):
        preview = preview.draw_rect(
            list(SAFE_ZONE_COLOUR),
            left + ring,
            top + ring,
            max(1, inside_w - 2 * ring),
            max(1, inside_h - 2 * ring),
        )
    data, _, _ = encode(preview, output_format="png", quality=6)
    return Rendered(
        data=data,
        width=w,
        height=h,
        format="png",
        content_type=media_type("png"),
        quality=None,
        crop_box=rendered.crop_box,
        fits_size_limit=True,  # a preview is never held to a platform's byte limit
        subject=rendered.subject,
    )


def zip_outputs(files: Iterable[tuple[str, bytes]]) -> bytes:
    """One zip of the named files; names reduced to safe base names and made unique."""
    buffer = io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(buffer, "w") as archive:
        for raw_name, data in files:
            name = _unique(_safe_name(raw_name), seen)
            seen.add(name.lower())
            suffix = PurePosixPath(name).suffix.lower()
            compression = zipfile.ZIP_STORED if suffix in _COMPRESSED_SUFFIXES else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=compression)
    return buffer.getvalue()


def _parse_background(background: str) -> tuple[int, int, int] | str:
    """Return "auto" or "blur" as given, "#rrggbb" as an RGB triple; anything else is refused."""
    value = background.strip().lower()
    if value in ("auto", "blur"):
        return value
    rgb = hex_rgb(value)
    if rgb is None:
        raise ValidationFailed(
            "background", f'must be "auto", "blur" or a colour like "#1a2b3c", got {background!r}'
        )
    return rgb


def _fit(image: pyvips.Image, width: int, height: int, fill: tuple[int, int, int] | str) -> pyvips.Image:
    """The whole image scaled to fit, centred on a colour or a blurred cover of itself."""
    scale = min(width / image.width, height / image.height)
    fit_w = max(1, min(width, round(image.width * scale)))
    fit_h = max(1, min(height, round(image.height * scale)))
    fitted = resize_exact(image, fit_w, fit_h)
    left, top = (width - fit_w) // 2, (height - fit_h) // 2

    if fill == "blur":
        canvas = _blurred_cover(image, width, height)
    else:
        colour = _border_colour(fitted, sideways=fit_w < width) if fill == "auto" else fill
        canvas = (pyvips.Image.black(width, height, bands=3) + list(colour)).cast("uchar")
        canvas = canvas.copy(interpretation="srgb")
    if fitted.hasalpha():
        # The letterboxed output is opaque: transparent parts show the background too.
        return canvas.composite2(fitted, "over", x=left, y=top).extract_band(0, n=3)
    return canvas.insert(fitted, left, top)


def _border_colour(image: pyvips.Image, *, sideways: bool) -> tuple[int, int, int]:
    """Dominant colour of the edges that touch the bands (left/right or top/bottom)."""
    small = image.flatten(background=[255, 255, 255]) if image.hasalpha() else image
    if max(small.width, small.height) > 256:
        small = small.thumbnail_image(256, height=256, size="down")
    pixels = np.asarray(small.numpy()).reshape(small.height, small.width, -1)[:, :, :3]
    if sideways:
        strip = max(1, math.ceil(small.width * BORDER_SAMPLE))
        border = np.concatenate([pixels[:, :strip], pixels[:, -strip:]], axis=1)
    else:
        strip = max(1, math.ceil(small.height * BORDER_SAMPLE))
        border = np.concatenate([pixels[:strip], pixels[-strip:]], axis=0)
    border = border.reshape(-1, 3).astype(np.int64)
    # The most common colour (in 8-level-wide bins), not a per-channel median: a median of a
    # red flag and a grey wall is a mauve that appears nowhere in the picture.
    bins = (border[:, 0] >> 3) << 10 | (border[:, 1] >> 3) << 5 | (border[:, 2] >> 3)
    dominant = np.bincount(bins).argmax()
    red, green, blue = (int(round(float(value))) for value in border[bins == dominant].mean(axis=0))
    return red, green, blue


def _blurred_cover(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """The image scaled to cover width x height, heavily blurred: the 'blur' letterbox."""
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    # Blur at 1/8 size and scale up: the same look for a fraction of the work.
    small_w, small_h = max(1, math.ceil(width / 8)), max(1, math.ceil(height / 8))
    scale = max(small_w / image.width, small_h / image.height)
    cover = image.resize(scale)
    left = max(0, (cover.width - small_w) // 2)
    top = max(0, (cover.height - small_h) // 2)
    cover = cover.crop(left, top, min(small_w, cover.width), min(small_h, cover.height))
    blurred = cover.gaussblur(max(small_w, small_h) / 25 + 1).cast("uchar")
    return resize_exact(blurred.copy(interpretation="srgb"), width, height)


def _safe_name(name: str) -> str:
    """A plain base name: no directories, no leading dots, only portable characters."""
    base = PurePosixPath(name.replace("\\", "/")).name
    base = _UNSAFE_NAME_CHARS.sub("_", base).lstrip(".")[:120]
    return base or "file"


def _unique(name: str, seen: set[str]) -> str:
    """``name`` or ``stem-2.ext``, ``stem-3.ext``, ... so no entry overwrites another on unzip."""
    if name.lower() not in seen:
        return name
    path = PurePosixPath(name)
    counter = 2
    while f"{path.stem}-{counter}{path.suffix}".lower() in seen:
        counter += 1
    return f"{path.stem}-{counter}{path.suffix}"
