"""Where to crop: a box of the target aspect, placed on faces, the subject or a focal point, clear of platform UI."""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

import pyvips  # type: ignore[import-untyped, unused-ignore]

from imagestudio.errors import ValidationFailed

from .attention import AttentionMap
from .codec import ZoomLimit
from .faces import find_faces
from .sizing import MIN_ZOOM, largest_box
from .source import SourceImage
from .subject import find_subject

__all__ = [
    "DEFAULT_MAX_ZOOM",
    "Box",
    "CropMode",
    "CropAnalysis",
    "CropPlan",
    "SafeZone",
    "ZoomLimit",
    "adopt_analysis",
    "analyse",
    "check_max_zoom",
    "detect_faces",
    "plan_crop",
    "planning_source",
]

CropMode = Literal["smart", "center", "fit"]
#: (left, top, width, height) in source pixels, after EXIF orientation.
Box = tuple[int, int, int, int]

#: Largest width or height we render; beyond it no social network accepts the file anyway.
MAX_OUTPUT_SIDE: Final = 8192
#: Longest side of the copy libvips' attention model sees; it reduces to 32x32 internally.
ATTENTION_SIDE: Final = 256
#: Steps from the largest box up to the zoom bound tried when the subject cannot clear the bands.
ZOOM_STEPS: Final = 12
#: How far in (the largest box's side over the crop's) a crop may zoom to clear a safe zone's
#: bands by default; the studio passes its setting. Never past 1 / MIN_ZOOM, the scale a source
#: loaded for its output sizes is held at (``sizing.render_scale``).
DEFAULT_MAX_ZOOM: Final = 1.25
MAX_ZOOM_LIMIT: Final = round(1 / MIN_ZOOM, 4)
#: Margin added around each detected face before placing it: the cascades box eyebrows to mouth,
#: while hair and chin belong to the face a viewer sees.
FACE_MARGIN: Final = 0.15


@dataclass(frozen=True)
class SafeZone:
    """Fractions of each edge a platform covers with UI (captions, buttons); content belongs inside."""

    top: float
    bottom: float
    left: float
    right: float

    def __post_init__(self) -> None:
        """Refuse fractions outside 0..1 or zones with no area left."""
        values = (self.top, self.bottom, self.left, self.right)
        if not all(0.0 <= value < 1.0 for value in values):
            raise ValidationFailed("safe_zone", "each edge must be a fraction from 0 up to 1")
        if self.top + self.bottom >= 1.0 or self.left + self.right >= 1.0:
            raise ValidationFailed("safe_zone", "the margins leave no area inside the safe zone")


#: No bands at all (built once: a plan of 31 formats would validate it 62 times).
NO_BANDS: Final = SafeZone(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class CropPlan:
    """The crop box and what it was placed on."""

    box: Box
    #: "faces", "subject" (salient region), "attention" (salient peak), "focal_point" or "center".
    placed_on: str
    #: The faces or subject the box was placed to keep, (left, top, width, height) in source
    #: pixels; None when the box was centred on a point.
    subject: Box | None
    #: Faces found in the source (kept in the box or not).
    faces: int
    #: The largest box's side over the crop's: 1.0 unless zoomed in to clear a safe zone.
    zoom: float = 1.0
    #: What held the zoom where it is (``ZoomLimit``).
    zoom_limit: ZoomLimit = "not_placed"


@dataclass(frozen=True)
class CropAnalysis:
    """What smart crop reads of one decoded source, kept so it can be planned again without decoding.

    Faces are found on the copy the source holds (``SourceImage.image``), so an analysis stands for
    sources held at the same size only (``held``).
    """

    #: The upright source's size (every box is in its pixels).
    width: int
    height: int
    #: The size of the copy the faces and the subject were found on.
    held: tuple[int, int]
    faces: tuple[Box, ...]
    #: The subject on a plain background; looked for only when there is no face.
    subject: Box | None
    #: The small copy libvips' attention reads, when neither faces nor a subject place the crops.
    attention_image: pyvips.Image | None


def analyse(source: SourceImage) -> CropAnalysis:
    """Faces, else the subject, else the attention copy: all a smart plan of ``source`` reads of its pixels."""
    faces = detect_faces(source)
    subject = None if faces else _subject(source)
    attention = None
    if not faces and subject is None:
        attention = _attention_copy(source)
    held = (int(source.image.width), int(source.image.height))
    return CropAnalysis(source.width, source.height, held, faces, subject, attention)


def adopt_analysis(source: SourceImage, analysis: CropAnalysis) -> bool:
    """Give ``source`` an analysis of the same bytes, if it was made on a copy of the same size."""
    if analysis.held != (int(source.image.width), int(source.image.height)):
        return False
    _fill(source, analysis)
    return True


def planning_source(analysis: CropAnalysis) -> SourceImage:
    """A source ``plan_crop`` plans exactly as the decoded one it was analysed from, without its pixels.

    It holds only the attention copy (a pixel when faces or the subject place every crop), so it
    cannot be rendered from.
    """
    image = analysis.attention_image if analysis.attention_image is not None else _one_pixel()
    source = SourceImage(image, size=(analysis.width, analysis.height))
    _fill(source, analysis)
    return source


@lru_cache(maxsize=1)
def _one_pixel() -> pyvips.Image:
    """A black sRGB pixel: what a planning source holds when faces or the subject place every crop."""
    return pyvips.Image.black(1, 1, bands=3).copy(interpretation="srgb").copy_memory()


def _fill(source: SourceImage, analysis: CropAnalysis) -> None:
    """The analysis's faces and subject as the source's own, found once (``detect_faces``, ``_subject``)."""
    source.faces = analysis.faces
    source.subject, source.subject_searched = analysis.subject, not analysis.faces


def plan_crop(
    source: SourceImage,
    *,
    width: int,
    height: int,
    mode: Literal["smart", "center"],
    focal_point: tuple[float, float] | None = None,
    safe_zone: SafeZone | None = None,
    max_zoom: float = DEFAULT_MAX_ZOOM,
) -> CropPlan:
    """Place the largest box of the aspect, or one zoomed in up to ``max_zoom`` to clear a safe zone's bands.

    Smart mode keeps every face when they fit together, else the largest group that does; with no
    face, the subject's bounding box when it stands out from a plain background, else the salient
    peak. When ``safe_zone`` is given the faces or subject go inside it whenever the source has room.
    """
    check_output_size(width, height)
    check_max_zoom(max_zoom)
    box_w, box_h = largest_box(source.width, source.height, width, height)
    if focal_point is not None:
        # An explicit choice by the user beats anything we could guess, in either mode.
        fx, fy = check_focal_point(focal_point)
        return CropPlan(
            _centred(source, box_w, box_h, fx * source.width, fy * source.height), "focal_point", None, 0
        )
    if mode == "center":
        return CropPlan(
            _centred(source, box_w, box_h, source.width / 2, source.height / 2), "center", None, 0
        )
    if mode != "smart":
        raise ValidationFailed("mode", f"a crop box needs mode smart or center, got {mode!r}")

    faces = detect_faces(source)
    if faces:
        group = _face_group(faces, box_w, box_h, horizontal=box_w < source.width)
        subject = _union(group)
        padded = _pad(subject, FACE_MARGIN, source.width, source.height)
        # The padded faces inside the safe zone when some zoom allows, else the bare faces.
        keep = (padded, subject) if padded[2] <= box_w and padded[3] <= box_h else (subject,)
        box, zoom, limit = _place(source, box_w, box_h, keep, safe_zone, (width, height), max_zoom)
        return CropPlan(box, "faces", subject, len(faces), zoom, limit)
    salient = _subject(source)
    if salient is not None:
        zoom = 1.0
        if salient[2] <= box_w and salient[3] <= box_h:
            box, zoom, limit = _place(source, box_w, box_h, (salient,), safe_zone, (width, height), max_zoom)
        else:
            # Too tall or wide for the box (a bottle in a banner): its middle, so the part cut off
            # is shared between both ends rather than all of it lost from one. A zoom would only
            # cut more of it off.
            box = _centred(source, box_w, box_h, salient[0] + salient[2] / 2, salient[1] + salient[3] / 2)
            limit = "no_zoom_fits" if _has_bands(safe_zone) else "no_safe_zone"
        return CropPlan(box, "subject", salient, 0, zoom, limit)
    cx, cy = _attention_centre(source, box_w, box_h)
    return CropPlan(_centred(source, box_w, box_h, cx, cy), "attention", None, 0)


def detect_faces(source: SourceImage) -> tuple[Box, ...]:
    """Faces in the source (cached on it), largest first, in source pixels."""
    if source.faces is None:
        source.faces = tuple(source.source_box(face) for face in _detect_faces(source.image))
    return source.faces


def check_output_size(width: int, height: int) -> None:
    """Raise ``ValidationFailed`` unless the output size is 1..MAX_OUTPUT_SIDE on each side."""
    for field, value in (("width", width), ("height", height)):
        if not 1 <= value <= MAX_OUTPUT_SIDE:
            raise ValidationFailed(field, f"must be between 1 and {MAX_OUTPUT_SIDE}, got {value}")


def check_max_zoom(max_zoom: float) -> None:
    """Raise ``ValidationFailed`` unless the zoom bound is 1 (never zoom) up to MAX_ZOOM_LIMIT."""
    if not 1.0 <= max_zoom <= MAX_ZOOM_LIMIT:  # also rejects NaN
        raise ValidationFailed("max_zoom", f"must be between 1 and {MAX_ZOOM_LIMIT}, got {max_zoom}")


def check_focal_point(focal_point: tuple[float, float]) -> tuple[float, float]:
    """Return the focal point or raise ``ValidationFailed`` unless both coordinates are in 0..1."""
    try:
        fx, fy = (float(value) for value in focal_point)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("focal_point", "must be two numbers (x, y) between 0 and 1") from exc
    if not (0.0 <= fx <= 1.0 and 0.0 <= fy <= 1.0):  # also rejects NaN
        raise ValidationFailed(
            "focal_point", f"x and y must be between 0 and 1 (fractions of the image), got {fx}, {fy}"
        )
    return fx, fy


def _face_group(faces: tuple[Box, ...], box_w: int, box_h: int, *, horizontal: bool) -> tuple[Box, ...]:
    """The faces to keep: all when they fit in the box together, else the group with the most face area.

    The largest box spans the source along one axis, so only the other (the one it slides
    along) decides which faces fit together.
    """
    span = box_w if horizontal else box_h
    axis = 0 if horizontal else 1
    best: tuple[Box, ...] = (faces[0],)
    best_area = 0
    for first in faces:
        start = first[axis]
        group = tuple(
            face for face in faces if face[axis] >= start and face[axis] + face[axis + 2] <= start + span
        )
        area = sum(face[2] * face[3] for face in group)
        if area > best_area:
            best, best_area = group, area
    return best


def _union(boxes: tuple[Box, ...]) -> Box:
    """The smallest box holding every box."""
    left = min(x for x, _, _, _ in boxes)
    top = min(y for _, y, _, _ in boxes)
    right = max(x + w for x, _, w, _ in boxes)
    bottom = max(y + h for _, y, _, h in boxes)
    return left, top, right - left, bottom - top


def _pad(box: Box, margin: float, src_w: int, src_h: int) -> Box:
    """``box`` grown by ``margin`` of its size on every side, within the source."""
    x, y, w, h = box
    left, top = max(0, round(x - w * margin)), max(0, round(y - h * margin))
    right, bottom = min(src_w, round(x + w * (1 + margin))), min(src_h, round(y + h * (1 + margin)))
    return left, top, right - left, bottom - top


def _centred(source: SourceImage, box_w: int, box_h: int, cx: float, cy: float) -> Box:
    """The box centred on (cx, cy) as far as the source's edges allow."""
    left = _clamp(round(cx - box_w / 2), 0, source.width - box_w)
    top = _clamp(round(cy - box_h / 2), 0, source.height - box_h)
    return left, top, box_w, box_h


def _place(
    source: SourceImage,
    box_w: int,
    box_h: int,
    keep: tuple[Box, ...],
    safe_zone: SafeZone | None,
    output: tuple[int, int],
    max_zoom: float,
) -> tuple[Box, float, ZoomLimit]:
    """A box holding ``keep[0]`` (else the next) inside the safe zone at the least zoom up to ``max_zoom``
    that allows it, else the largest box holding ``keep[-1]``, leaning away from the bands; its zoom,
    and what held the zoom there (``ZoomLimit``).
    """
    subject = keep[-1]
    if safe_zone is not None and _has_bands(safe_zone):
        # Never zoom past the source's resolution: the crop is not made smaller than the output.
        resolution = max(1.0, min(box_w / output[0], box_h / output[1]))
        limit = min(max_zoom, resolution)
        steps = ZOOM_STEPS if limit > 1.0 else 0
        # The padded faces at any zoom before the bare ones: hair and chin belong in the zone too.
        for wanted in keep:
            for step in range(steps + 1):
                placed = _zoomed(
                    source, box_w, box_h, wanted, safe_zone, 1.0 + (limit - 1.0) * step / ZOOM_STEPS
                )
                if placed is not None:
                    return placed, round(box_w / placed[2], 4), "none"
        least, most = _zoom_range(source, box_w, box_h, subject, safe_zone)
        # The steps can step over a range narrower than one of them: try its middle before giving up.
        if least <= min(most, limit):
            placed = _zoomed(source, box_w, box_h, subject, safe_zone, (least + min(most, limit)) / 2)
            if placed is not None:
                return placed, round(box_w / placed[2], 4), "none"
        reason = _zoom_limit(least, most, max_zoom, resolution)
    else:
        reason = "no_safe_zone"
    # No room for the safe zone: keep the subject in the box, as clear of the bands as it can be.
    zone = safe_zone or NO_BANDS
    left = _slide(source.width, box_w, subject[0], subject[2], 0.0, 0.0, prefer=(zone.left, zone.right))
    top = _slide(source.height, box_h, subject[1], subject[3], 0.0, 0.0, prefer=(zone.top, zone.bottom))
    cx, cy = subject[0] + subject[2] / 2, subject[1] + subject[3] / 2
    box = (
        left if left is not None else _clamp(round(cx - box_w / 2), 0, source.width - box_w),
        top if top is not None else _clamp(round(cy - box_h / 2), 0, source.height - box_h),
        box_w,
        box_h,
    )
    return box, 1.0, reason


def _zoomed(
    source: SourceImage, box_w: int, box_h: int, wanted: Box, safe_zone: SafeZone, zoom: float
) -> Box | None:
    """The largest box zoomed in by ``zoom``, holding ``wanted`` inside the safe zone, or None."""
    w, h = max(1, round(box_w / zoom)), max(1, round(box_h / zoom))
    left = _slide(source.width, w, wanted[0], wanted[2], safe_zone.left, safe_zone.right)
    top = _slide(source.height, h, wanted[1], wanted[3], safe_zone.top, safe_zone.bottom)
    if left is None or top is None:
        return None
    return left, top, w, h


def _has_bands(safe_zone: SafeZone | None) -> bool:
    """Whether the safe zone covers any edge (a format without bands has nothing to clear)."""
    return safe_zone is not None and safe_zone != NO_BANDS


def _zoom_range(
    source: SourceImage, box_w: int, box_h: int, subject: Box, safe_zone: SafeZone
) -> tuple[float, float]:
    """The least and most zoom (from 1) at which a box can hold ``subject`` inside the safe zone.

    Along each axis a box of length L (the largest box's, L0, over the zoom) holds the subject
    inside its bands when the subject fits the band-free part (the zoom at most
    ``(1 - bands) * L0 / size``) and each band fits between the subject and the source's edge (the
    zoom at least ``band * L0 / room``). Least above most: no zoom places it.
    """
    least, most = 1.0, math.inf
    for length, extent, start, size, before, after in (
        (box_w, source.width, subject[0], subject[2], safe_zone.left, safe_zone.right),
        (box_h, source.height, subject[1], subject[3], safe_zone.top, safe_zone.bottom),
    ):
        if size > 0:
            most = min(most, (1.0 - before - after) * length / size)
        for band, room in ((before, start), (after, extent - start - size)):
            if band > 0:
                least = max(least, band * length / room if room > 0 else math.inf)
    return least, most


def _zoom_limit(least: float, most: float, max_zoom: float, resolution: float) -> ZoomLimit:
    """What kept a subject out of the safe zone, given the zoom range that would place it."""
    if least > most:
        return "no_zoom_fits"
    if least > max_zoom and max_zoom <= resolution:
        return "bound"
    if least > resolution:
        return "source_resolution"
    # Within both limits on paper, yet whole pixels leave no offset that works.
    return "no_zoom_fits"


def _slide(
    extent: int,
    length: int,
    start: int,
    size: int,
    before: float,
    after: float,
    *,
    prefer: tuple[float, float] | None = None,
) -> int | None:
    """Offset along one axis putting [start, start+size] inside the box less its bands, or None.

    Among the offsets that work, the one centring the subject in the band-free part (of the
    ``prefer`` bands when given, so a subject that cannot clear them still leans away from them).
    """
    low = max(0, start + size - round(length * (1 - after)))
    high = min(extent - length, start - round(length * before))
    if low > high:
        return None
    bands = prefer or (before, after)
    middle = length * (bands[0] + (1 - bands[0] - bands[1]) / 2)
    return _clamp(round(start + size / 2 - middle), low, high)


def _subject(source: SourceImage) -> Box | None:
    """The salient region's box (cached on the source), None on busy pictures."""
    if not source.subject_searched:
        found = find_subject(source.image)
        source.subject = source.source_box(found) if found is not None else None
        source.subject_searched = True
    return source.subject


def _attention_centre(source: SourceImage, box_w: int, box_h: int) -> tuple[float, float]:
    """Centre of the most salient region (libvips' attention model: edges, skin, saturation), cached."""
    key = (box_w, box_h)
    if key not in source.attention:
        small = _attention_copy(source)
        scale = small.width / source.width
        # The box size sets the blur libvips applies before taking the peak; keep it in proportion.
        crop_w = _clamp(round(box_w * scale), 1, small.width)
        crop_h = _clamp(round(box_h * scale), 1, small.height)
        x, y = _attention_map(source).centre(crop_w, crop_h)
        source.attention[key] = ((x + 0.5) / scale, (y + 0.5) / scale)
    return source.attention[key]


#: The small copy each source's attention is read from, made once per source (not once per box
#: size: shrinking the held copy again for every format cost about half of each placement).
_ATTENTION_COPIES: Final[weakref.WeakKeyDictionary[SourceImage, pyvips.Image]] = weakref.WeakKeyDictionary()


def _attention_copy(source: SourceImage) -> pyvips.Image:
    """The source's copy at most ATTENTION_SIDE on its longest edge, in memory, made once per source."""
    small = _ATTENTION_COPIES.get(source)
    if small is None:
        small = _small_rgb(source.image, ATTENTION_SIDE).copy_memory()
        _ATTENTION_COPIES[source] = small
    return small


#: libvips' attention scores of each source's small copy, made once per source: rebuilding them in
#: every ``smartcrop`` call was 6-9 ms per crop size (``imaging.attention``).
_ATTENTION_MAPS: Final[weakref.WeakKeyDictionary[SourceImage, AttentionMap]] = weakref.WeakKeyDictionary()


def _attention_map(source: SourceImage) -> AttentionMap:
    """The attention scores of the source's small copy (``_attention_copy``), made once per source."""
    scores = _ATTENTION_MAPS.get(source)
    if scores is None:
        scores = AttentionMap(_attention_copy(source))
        _ATTENTION_MAPS[source] = scores
    return scores


def _detect_faces(image: pyvips.Image) -> tuple[Box, ...]:
    """Face boxes, largest first (``imaging.faces`` does the looking)."""
    return tuple(face.box for face in find_faces(image))


def _clamp(value: int, low: int, high: int) -> int:
    """``value`` limited to low..high."""
    return max(low, min(high, value))


def _small_rgb(image: pyvips.Image, side: int) -> pyvips.Image:
    """A copy at most ``side`` pixels on its longest edge, alpha flattened on white."""
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if max(image.width, image.height) > side:
        image = image.thumbnail_image(side, height=side, size="down")
    return image
