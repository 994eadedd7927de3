"""Where to crop: the largest box of a target aspect, placed on faces, salient content or a focal point."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Final, Literal

import cv2
import numpy as np
import pyvips  # type: ignore[import-untyped, unused-ignore]

from imagestudio.errors import ValidationFailed

from .codec import SourceImage

__all__ = ["Box", "CropMode", "choose_crop_box", "detect_faces"]

CropMode = Literal["smart", "center", "fit"]
#: (left, top, width, height) in source pixels, after EXIF orientation.
Box = tuple[int, int, int, int]

#: Largest width or height we render; beyond it no social network accepts the file anyway.
MAX_OUTPUT_SIDE: Final = 8192
#: Longest side of the greyscale copy the face detector sees: faces in social photos are large,
#: and detection time grows with the pixel count.
FACE_DETECTION_SIDE: Final = 640
#: Longest side of the copy libvips' attention model sees; it reduces to 32x32 internally.
ATTENTION_SIDE: Final = 256
#: Faces smaller than this fraction of the largest face are background people or false positives.
MIN_FACE_RATIO: Final = 0.35

# The same folder as cv2.data.haarcascades, which OpenCV's type stubs do not declare.
_CASCADE_PATH: Final = str(Path(cv2.__file__).parent / "data" / "haarcascade_frontalface_default.xml")
# CascadeClassifier is not safe to share between threads; each worker thread loads its own once.
_local = threading.local()


def choose_crop_box(
    source: SourceImage,
    *,
    width: int,
    height: int,
    mode: Literal["smart", "center"],
    focal_point: tuple[float, float] | None = None,
) -> Box:
    """Largest box of the target aspect: centred, on faces, on salient content, or on a focal point."""
    check_output_size(width, height)
    box_w, box_h = _largest_box(source.width, source.height, width, height)
    if focal_point is not None:
        # An explicit choice by the user beats anything we could guess, in either mode.
        fx, fy = check_focal_point(focal_point)
        cx, cy = fx * source.width, fy * source.height
    elif mode == "center":
        cx, cy = source.width / 2, source.height / 2
    elif mode == "smart":
        faces = detect_faces(source)
        if faces:
            cx, cy = _face_centre(faces, box_w, box_h)
        else:
            cx, cy = _attention_centre(source, box_w, box_h)
    else:
        raise ValidationFailed("mode", f"a crop box needs mode smart or center, got {mode!r}")
    left = _clamp(round(cx - box_w / 2), 0, source.width - box_w)
    top = _clamp(round(cy - box_h / 2), 0, source.height - box_h)
    return left, top, box_w, box_h


def detect_faces(source: SourceImage) -> tuple[Box, ...]:
    """Frontal faces in the source (cached on it), largest first, in source pixels."""
    if source.faces is None:
        source.faces = _detect_faces(source.image)
    return source.faces


def check_output_size(width: int, height: int) -> None:
    """Raise ``ValidationFailed`` unless the output size is 1..MAX_OUTPUT_SIDE on each side."""
    for field, value in (("width", width), ("height", height)):
        if not 1 <= value <= MAX_OUTPUT_SIDE:
            raise ValidationFailed(field, f"must be between 1 and {MAX_OUTPUT_SIDE}, got {value}")


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


def _largest_box(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int]:
    """Size of the largest box with the aspect width:height that fits in the source."""
    if src_w * height > src_h * width:  # source is wider than the target: full height
        return _clamp(round(src_h * width / height), 1, src_w), src_h
    return src_w, _clamp(round(src_w * height / width), 1, src_h)


def _face_centre(faces: tuple[Box, ...], box_w: int, box_h: int) -> tuple[float, float]:
    """Centre of all faces when they fit in the box together, else of the largest face."""
    left = min(x for x, _, _, _ in faces)
    top = min(y for _, y, _, _ in faces)
    right = max(x + w for x, _, w, _ in faces)
    bottom = max(y + h for _, y, _, h in faces)
    if right - left <= box_w and bottom - top <= box_h:
        return (left + right) / 2, (top + bottom) / 2
    x, y, w, h = faces[0]
    return x + w / 2, y + h / 2


def _attention_centre(source: SourceImage, box_w: int, box_h: int) -> tuple[float, float]:
    """Centre of the most salient region (libvips attention: edges, skin, saturation), cached."""
    key = (box_w, box_h)
    if key not in source.attention:
        small = _small_rgb(source.image, ATTENTION_SIDE)
        scale = small.width / source.width
        # The box size sets the blur libvips applies before taking the peak; keep it in proportion.
        crop_w = _clamp(round(box_w * scale), 1, small.width)
        crop_h = _clamp(round(box_h * scale), 1, small.height)
        _, found = small.smartcrop(
            crop_w, crop_h, interesting="attention", attention_x=True, attention_y=True
        )
        source.attention[key] = (
            (found["attention_x"] + 0.5) / scale,
            (found["attention_y"] + 0.5) / scale,
        )
    return source.attention[key]


def _detect_faces(image: pyvips.Image) -> tuple[Box, ...]:
    """Run the Haar frontal-face cascade on a small, equalised greyscale copy."""
    small = _small_rgb(image, FACE_DETECTION_SIDE).colourspace("b-w")
    pixels = np.ascontiguousarray(small.numpy().reshape(small.height, small.width), dtype=np.uint8)
    # Local (CLAHE) equalising helps with under- and over-exposed faces; a global histogram
    # would let a large bright or busy area elsewhere wash the face out.
    grey = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(pixels)
    min_side = max(20, round(min(grey.shape) * 0.05))
    found = _classifier().detectMultiScale(
        grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    if len(found) == 0:
        return ()
    scale = image.width / small.width
    faces = sorted(
        ((round(x * scale), round(y * scale), round(w * scale), round(h * scale)) for x, y, w, h in found),
        key=lambda face: face[2] * face[3],
        reverse=True,
    )
    largest = faces[0][2]
    return tuple(face for face in faces if face[2] >= largest * MIN_FACE_RATIO)


def _classifier() -> cv2.CascadeClassifier:
    """This thread's frontal-face cascade, loaded on first use."""
    classifier: cv2.CascadeClassifier | None = getattr(_local, "classifier", None)
    if classifier is None:
        classifier = cv2.CascadeClassifier(_CASCADE_PATH)
        if classifier.empty():
            raise RuntimeError(f"cannot load the face cascade from {_CASCADE_PATH}")
        _local.classifier = classifier
    return classifier


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
