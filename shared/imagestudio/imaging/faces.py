"""Where the people are: a learned detector (MTCNN) when its package is installed, else OpenCV's Haar cascades.

What is promised with the learned detector (``imaging.face_net``, the social worker's image): faces
from 5.5 % of the shorter side (20 px of a 360-px copy), upright or turned to about 30 degrees, in
one pass; and when there is none of those, faces down to 2.8 % (20 px of a 720-px copy, searched
only between 20 and 40 px there). A profile seen edge-on is not promised. It costs about a fifth of
the cascades' passes (bench/README.md, issue 29).

What is promised with the cascades (the fallback): faces from 5.5 % of the shorter side
(COARSE_SIDE), upright, turned up to about 35 degrees or in profile, anywhere; and when there is
none of those, upright faces down to 2 % (FINE_SIDE). The cheap pass first: one upright pass on a
360-px copy; the turned and profile passes (twice its cost) only when it finds none, the fine level
(about three times all of them) only when they find none either.

Either way faces under MIN_FACE_RATIO of the largest one found are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt
import pyvips  # type: ignore[import-untyped, unused-ignore]

from .face_net import RGB, STEP, Boxes, FaceNet, detector

__all__ = ["Face", "find_faces"]

#: Shorter side of the learned detector's fine level (faces of 20 px there: 2.8 %), and the most
#: pixels it holds (a 16:9 photo's 1280x720; a wider panorama's level is smaller).
NET_FINE_SIDE: Final = 720
NET_FINE_PIXELS: Final = 925_000
#: Shorter side of the fine pyramid level. The cascades' smallest window is 20 px, so faces down
#: to 2 % of the shorter side (a person far off in a wide shot) need a 1,000 px copy.
FINE_SIDE: Final = 1000
#: Shorter side of the coarse level, where faces of 20/360 (5.5 %) and more are searched, also
#: turned and in profile: an eighth of the fine level's pixels, so the extra passes stay cheap.
COARSE_SIDE: Final = 360
#: Most pixels the fine level holds (a 4:3 photo's 1333x1000).
FINE_PIXELS: Final = 1_350_000
#: Largest face (in fine-level pixels) the fine pass looks for; bigger ones the coarse passes find.
FINE_MAX_FACE: Final = 64
#: Horizontal bands the fine level is searched in, to bound the cascade's memory.
FINE_BANDS: Final = 3
#: Smallest window the cascades were trained on (pixels of the level searched).
MIN_WINDOW: Final = 20
#: Window growth per scale on the fine level: the 2 % faces sit near the smallest window, where a
#: coarser step misses them between scales.
FINE_STEP: Final = 1.1
#: Window growth per scale on the coarse level: upright frontal faces, and the turned and profile
#: passes, which are four of the six passes, so they take a coarser step.
COARSE_STEP: Final = 1.15
EXTRA_STEP: Final = 1.2
#: Angles of the turned copies: the frontal cascade tolerates about 12 degrees of tilt itself, so
#: these cover heads tilted up to about 35 degrees either way.
TILTS: Final = (-22.0, 22.0)
#: Faces smaller than this fraction of the largest face are background people or false positives.
MIN_FACE_RATIO: Final = 0.3
#: Neighbouring windows a detection needs: upright frontal faces are the cascade's home ground;
#: turned copies and the profile cascade see more false faces in busy textures, so ask for more.
UPRIGHT_NEIGHBOURS: Final = 4
EXTRA_NEIGHBOURS: Final = 6

_CASCADES: Final = Path(cv2.__file__).parent / "data"  # cv2.data.haarcascades, untyped in the stubs
_FRONTAL: Final = "haarcascade_frontalface_alt2.xml"
_PROFILE: Final = "haarcascade_profileface.xml"

#: 8-bit greyscale pixels (OpenCV types its results loosely, so the dtype is not spelled out).
Grey = npt.NDArray[Any]


@dataclass(frozen=True)
class Face:
    """A face in source pixels: its upright bounding box and how it was seen."""

    left: int
    top: int
    width: int
    height: int
    #: "frontal", "tilted" or "profile".
    pose: str

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(left, top, width, height)."""
        return self.left, self.top, self.width, self.height


def find_faces(image: pyvips.Image, *, learned: bool = True) -> tuple[Face, ...]:
    """Faces in an upright sRGB image, largest first, in source pixels.

    ``learned=False`` (or no detector installed) runs the Haar cascades.
    """
    net = detector() if learned else None
    found = _search_net(net, image) if net is not None else _search_cascades(image)
    faces = _merge(found, image.width, image.height)
    if not faces:
        return ()
    largest = faces[0].width
    return tuple(face for face in faces if face.width >= largest * MIN_FACE_RATIO)


def _search_net(net: FaceNet, image: pyvips.Image) -> list[tuple[float, float, float, str]]:
    """The learned detector: the coarse copy, then the fine one for 20-40 px faces only when it found none."""
    fine, fine_scale = _rgb(image)
    coarse_scale = min(1.0, COARSE_SIDE / min(fine.shape[:2]))
    coarse = fine
    if coarse_scale < 1.0:
        coarse = cv2.resize(fine, None, fx=coarse_scale, fy=coarse_scale, interpolation=cv2.INTER_AREA)
    to_source = 1.0 / (fine_scale * coarse_scale)
    levels = net.propose(coarse, min_face=MIN_WINDOW)
    found = [
        (cx * to_source, cy * to_source, side * to_source, "frontal")
        for cx, cy, side, _ in net.verify(coarse, _joined(levels))
    ]
    if coarse_scale < 1.0 and not found:
        # Faces the coarse copy holds under 20 px: 20 px up to the coarse pass's smallest, with a
        # pyramid step of overlap, judged on the fine copy (its largest level is the search's main
        # cost). P-Net runs on the fine copy only for the sizes under the coarse pass's smallest
        # face: for the overlap its candidates from the coarse copy's levels are taken (the same
        # level image but for resampling), and R-/O-Net judge them on the fine copy as before.
        coarse_smallest = MIN_WINDOW / coarse_scale
        largest = coarse_smallest / STEP
        reused = [
            np.column_stack([boxes[:, :4] / coarse_scale, boxes[:, 4:]])
            for face, boxes in levels
            if face / coarse_scale <= largest * 1.001
        ]
        # A fine level is the coarse copy's when its face is within half a step of the coarse smallest.
        finer = net.propose(fine, min_face=MIN_WINDOW, max_face=coarse_smallest * math.sqrt(STEP))
        found = [
            (cx / fine_scale, cy / fine_scale, side / fine_scale, "frontal")
            for cx, cy, side, _ in net.verify(fine, _joined(finer, reused))
        ]
    return found


def _joined(levels: list[tuple[float, Boxes]], extra: list[Boxes] | None = None) -> Boxes:
    """P-Net's candidates of every level (and ``extra`` ones) in one array, as ``FaceNet.verify`` takes them."""
    return np.concatenate([np.empty((0, 9)), *(boxes for _, boxes in levels), *(extra or [])])


def _rgb(image: pyvips.Image) -> tuple[RGB, float]:
    """An 8-bit RGB copy whose shorter side is at most NET_FINE_SIDE (NET_FINE_PIXELS at most), and its scale."""
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if image.bands < 3:
        image = image.colourspace("srgb")
    source_width = image.width
    scale = min(
        1.0,
        NET_FINE_SIDE / min(image.width, image.height),
        math.sqrt(NET_FINE_PIXELS / (image.width * image.height)),
    )
    if scale < 1.0:
        image = image.resize(scale, kernel="linear")
    if image.format != "uchar":
        image = image.cast("uchar")
    pixels: RGB = np.ascontiguousarray(image.numpy()[:, :, :3], dtype=np.uint8)
    return pixels, image.width / source_width


def _search_cascades(image: pyvips.Image) -> list[tuple[float, float, float, str]]:
    """The Haar cascades' passes (the fallback without the learned detector)."""
    fine, fine_scale = _grey(image, FINE_SIDE)
    coarse_scale = min(1.0, COARSE_SIDE / min(fine.shape))
    coarse = cv2.resize(fine, None, fx=coarse_scale, fy=coarse_scale, interpolation=cv2.INTER_AREA)
    to_source = 1.0 / (fine_scale * coarse_scale)

    found: list[tuple[float, float, float, str]] = []  # centre x, centre y, side (source px), pose
    frontal = _classifier(_FRONTAL)
    for x, y, w, _ in _detect(frontal, coarse, UPRIGHT_NEIGHBOURS):
        found.append(((x + w / 2) * to_source, (y + w / 2) * to_source, w * to_source, "frontal"))
    if not found:
        # The upright pass is the cheap one (one of five coarse passes). When it finds a face the
        # crop is placed on it; turned and profile faces beside it are seldom the only ones a crop
        # would lose (bench/README.md: the profile, and the hard set's keep-rate, unchanged).
        found.extend(_extra_passes(frontal, coarse, to_source))
    if coarse_scale < 1.0 and not found:
        # The fine level, only when the coarse passes found no face at all: it holds most of the
        # pixels (about two thirds of a search's CPU), so upright frontal faces only. Beside a face
        # found it would look only for companions between MIN_FACE_RATIO of it and COARSE_SIDE's
        # smallest face, and on the hard set it never changed a crop (bench/README.md).
        for x, y, w, _ in _detect_in_bands(frontal, fine, min_side=MIN_WINDOW):
            scale = 1.0 / fine_scale
            found.append(((x + w / 2) * scale, (y + w / 2) * scale, w * scale, "frontal"))
    return found


def _extra_passes(
    frontal: cv2.CascadeClassifier, coarse: Grey, to_source: float
) -> list[tuple[float, float, float, str]]:
    """Turned and profile faces on the coarse level: four passes, so run only when upright ones found none."""
    found: list[tuple[float, float, float, str]] = []
    for angle in TILTS:
        for cx, cy, side in _detect_turned(frontal, coarse, angle):
            found.append((cx * to_source, cy * to_source, side * to_source, "tilted"))
    profile = _classifier(_PROFILE)
    for x, y, w, _ in _detect(profile, coarse, EXTRA_NEIGHBOURS, step=EXTRA_STEP):
        found.append(((x + w / 2) * to_source, (y + w / 2) * to_source, w * to_source, "profile"))
    mirrored = np.ascontiguousarray(coarse[:, ::-1])
    for x, y, w, _ in _detect(profile, mirrored, EXTRA_NEIGHBOURS, step=EXTRA_STEP):
        cx = coarse.shape[1] - (x + w / 2)
        found.append((cx * to_source, (y + w / 2) * to_source, w * to_source, "profile"))
    return found


def _grey(image: pyvips.Image, side: int) -> tuple[Grey, float]:
    """An equalised greyscale copy whose shorter side is at most ``side``, and its scale."""
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    source_width = image.width
    # A panorama's fine level would hold several times the pixels of a photo's: cap the area.
    scale = min(
        1.0, side / min(image.width, image.height), math.sqrt(FINE_PIXELS / (image.width * image.height))
    )
    if scale < 1.0:
        image = image.resize(scale, kernel="linear")
    grey = image.colourspace("b-w")
    pixels = np.ascontiguousarray(grey.numpy().reshape(grey.height, grey.width), dtype=np.uint8)
    # Local (CLAHE) equalising helps with under- and over-exposed faces; a global histogram
    # would let a large bright or busy area elsewhere wash the face out.
    equalised: Grey = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(pixels)
    return equalised, grey.width / source_width


def _detect(
    classifier: cv2.CascadeClassifier,
    grey: Grey,
    neighbours: int,
    *,
    min_side: int = 0,
    max_side: int = 0,
    step: float = COARSE_STEP,
) -> list[tuple[int, int, int, int]]:
    """One cascade over one image: (x, y, w, h) boxes, windows growing by ``step`` per pyramid level."""
    min_side = max(min_side, MIN_WINDOW)
    found = classifier.detectMultiScale(
        grey,
        scaleFactor=step,
        minNeighbors=neighbours,
        minSize=(min_side, min_side),
        maxSize=(max_side, max_side) if max_side else (0, 0),
    )
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]


def _detect_in_bands(
    classifier: cv2.CascadeClassifier, grey: Grey, *, min_side: int
) -> list[tuple[int, int, int, int]]:
    """The fine pass over horizontal bands that overlap by the largest face it looks for.

    OpenCV holds integral images for every scale of the image it searches at once (about 70 bytes
    per pixel over the fine pass's scales); bands keep that to a fraction of the fine level.
    """
    height = grey.shape[0]
    band = math.ceil(height / FINE_BANDS)
    found = []
    for top in range(0, height, band):
        bottom = min(height, top + band + FINE_MAX_FACE)
        for x, y, w, h in _detect(
            classifier,
            grey[top:bottom],
            UPRIGHT_NEIGHBOURS,
            min_side=min_side,
            max_side=FINE_MAX_FACE,
            step=FINE_STEP,
        ):
            found.append((x, y + top, w, h))
        if bottom == height:
            break
    return found


def _detect_turned(
    classifier: cv2.CascadeClassifier, grey: Grey, angle: float
) -> list[tuple[float, float, float]]:
    """Frontal faces on a copy turned by ``angle`` degrees: (centre x, centre y, side) in ``grey``'s pixels."""
    height, width = grey.shape
    radians = math.radians(angle)
    cos, sin = abs(math.cos(radians)), abs(math.sin(radians))
    # A canvas large enough that no corner of the turned image is cut off.
    out_w, out_h = math.ceil(width * cos + height * sin), math.ceil(width * sin + height * cos)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    matrix[0, 2] += (out_w - width) / 2
    matrix[1, 2] += (out_h - height) / 2
    turned = cv2.warpAffine(grey, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=128)
    back = cv2.invertAffineTransform(matrix)
    centres = []
    for x, y, w, _ in _detect(classifier, turned, EXTRA_NEIGHBOURS, step=EXTRA_STEP):
        px, py = x + w / 2, y + w / 2
        centres.append(
            (
                back[0, 0] * px + back[0, 1] * py + back[0, 2],
                back[1, 0] * px + back[1, 1] * py + back[1, 2],
                float(w),
            )
        )
    return centres


def _merge(found: list[tuple[float, float, float, str]], width: int, height: int) -> list[Face]:
    """One face per cluster of detections whose centres fall inside each other's boxes, largest first."""
    # Upright frontal finds first: where passes overlap, their box is the most precise.
    order = {"frontal": 0, "tilted": 1, "profile": 2}
    found = sorted(found, key=lambda item: (order[item[3]], -item[2]))
    kept: list[tuple[float, float, float, str]] = []
    for cx, cy, side, pose in found:
        if any(
            abs(cx - kx) < max(side, ks) / 2 and abs(cy - ky) < max(side, ks) / 2 for kx, ky, ks, _ in kept
        ):
            continue
        kept.append((cx, cy, side, pose))
    faces = []
    for cx, cy, side, pose in kept:
        left = max(0, round(cx - side / 2))
        top = max(0, round(cy - side / 2))
        right = min(width, round(cx + side / 2))
        bottom = min(height, round(cy + side / 2))
        if right > left and bottom > top:
            faces.append(Face(left, top, right - left, bottom - top, pose))
    return sorted(faces, key=lambda face: face.width * face.height, reverse=True)


def _classifier(name: str) -> cv2.CascadeClassifier:
    """A cascade ``name`` of its own for one search, freed with it.

    A classifier keeps the scratch of the largest image it searched (the integral images of every
    scale: ~30 MB after the fine pass) for as long as it lives, and loading one takes ~10 ms; so each
    search loads its own rather than a worker holding that scratch between jobs. Nothing is shared
    between threads either (a classifier is not safe to share).
    """
    classifier = cv2.CascadeClassifier(str(_CASCADES / name))
    if classifier.empty():
        raise RuntimeError(f"cannot load the face cascade {name} from {_CASCADES}")
    return classifier
