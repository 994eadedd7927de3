"""Local background removal on composites with exact masks: today's classical method, the bare
learned model (U²-Net-p) and the refined cut-out, side by side, in one run.

Each scene pastes a foreground (a person-like silhouette, a horse, a pale bottle, a product) cut
from scikit-image's sample photos with a soft, known alpha onto a plain, a busy or an outdoor
backdrop at 2 MP (some subjects cut by the frame), so the truth is exact. Reported per method:
mean IoU of alpha > 0.5, the worst scene, the mean boundary F-score (boundary pixels matched
within 0.75 % of the diagonal, as DAVIS does) and the median CPU (and wall) seconds per 2 MP image with
OpenCV and onnxruntime on one thread.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt
from skimage import data

from imagestudio.imaging import cutout, saliency

Array = npt.NDArray[np.uint8]
#: 2 MP, 4:3.
WIDTH: Final = 1632
HEIGHT: Final = 1224
#: Boundary match tolerance as a fraction of the image diagonal.
BOUNDARY_TOLERANCE: Final = 0.0075


def _fit(image: Array, width: int, height: int) -> Array:
    """Resize (cover, centre crop) an RGB or grey sample to width x height RGB."""
    if image.ndim == 2:
        image = np.dstack([image] * 3)
    image = np.ascontiguousarray(image[:, :, :3])
    factor = max(width / image.shape[1], height / image.shape[0])
    size = (max(width, round(image.shape[1] * factor)), max(height, round(image.shape[0] * factor)))
    big = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    top, left = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return np.ascontiguousarray(big[top : top + height, left : left + width])


def _soft(shape: Array, blur: float) -> npt.NDArray[np.float32]:
    """A 0/255 shape drawn at full size, anti-aliased and feathered by ``blur`` pixels (hair-like)."""
    alpha = shape.astype(np.float32) / 255.0
    return np.asarray(cv2.GaussianBlur(alpha, (0, 0), blur), dtype=np.float32)


def _bar(shape: Array, half_width: float, top: float, bottom: float) -> None:
    """Fill a bar centred across ``shape``: ``half_width`` of its width either side, from ``top`` to
    ``bottom`` of its height (shares)."""
    height, width = shape.shape[:2]
    cx = width // 2
    left, right = cx - int(width * half_width), cx + int(width * half_width)
    cv2.rectangle(shape, (left, int(height * top)), (right, int(height * bottom)), 255, -1)


def _person(width: int, height: int) -> Array:
    """Head, neck and shoulders, cut by the bottom of the frame."""
    shape = np.zeros((height, width), np.uint8)
    cx = width // 2
    cv2.ellipse(shape, (cx, int(height * 0.33)), (int(width * 0.11), int(height * 0.17)), 0, 0, 360, 255, -1)
    _bar(shape, 0.05, 0.45, 0.6)  # the neck
    body = np.array(
        [[cx - int(width * 0.3), height], [cx - int(width * 0.22), int(height * 0.6)],
         [cx + int(width * 0.22), int(height * 0.6)], [cx + int(width * 0.3), height]], np.int32
    )  # fmt: skip
    cv2.fillPoly(shape, [body], 255)
    return shape


def _horse(width: int, height: int, *, shift: float) -> Array:
    """scikit-image's horse silhouette, moved right by ``shift`` of the width (cut by the frame)."""
    horse = (~data.horse()).astype(np.uint8) * 255
    side = int(height * 0.7)
    big = cv2.resize(
        horse, (round(side * horse.shape[1] / horse.shape[0]), side), interpolation=cv2.INTER_LINEAR
    )
    shape = np.zeros((height, width), np.uint8)
    left, top = int(width * (0.25 + shift)), int(height * 0.2)
    right = min(width, left + big.shape[1])
    shape[top : top + big.shape[0], left:right] = big[:, : right - left]
    return (shape > 127).astype(np.uint8) * 255


def _bottle(width: int, height: int) -> Array:
    shape = np.zeros((height, width), np.uint8)
    cx = width // 2
    _bar(shape, 0.1, 0.4, 0.9)  # the body
    cv2.ellipse(shape, (cx, int(height * 0.4)), (int(width * 0.1), int(height * 0.08)), 0, 180, 360, 255, -1)
    _bar(shape, 0.03, 0.12, 0.35)  # the neck
    return shape


def _product(width: int, height: int) -> Array:
    """A mug: a body and a handle with a hole showing the backdrop."""
    shape = np.zeros((height, width), np.uint8)
    cx, cy = int(width * 0.45), int(height * 0.55)
    cv2.rectangle(
        shape,
        (cx - int(width * 0.15), cy - int(height * 0.25)),
        (cx + int(width * 0.15), cy + int(height * 0.25)),
        255,
        -1,
    )
    cv2.ellipse(
        shape,
        (cx + int(width * 0.15), cy),
        (int(width * 0.08), int(height * 0.13)),
        0,
        0,
        360,
        255,
        int(width * 0.03),
    )
    return shape


def _tint(grey: Array, colour: tuple[float, float, float]) -> Array:
    base = grey if grey.ndim == 2 else cv2.cvtColor(grey, cv2.COLOR_RGB2GRAY)
    out = base[:, :, None].astype(np.float32) * np.array(colour, np.float32)[None, None, :]
    return np.clip(out, 0, 255).astype(np.uint8)


def _backdrops(width: int, height: int) -> dict[str, Array]:
    ramp = np.linspace(236, 250, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    return {
        "plain": np.dstack([ramp, ramp, ramp - 4]).astype(np.uint8),
        "busy": _fit(_tint(np.tile(data.brick(), (2, 2)), (1.1, 0.8, 0.7)), width, height),
        "outdoor": _fit(data.rocket(), width, height),
    }


def _foregrounds(width: int, height: int) -> dict[str, tuple[Array, Array, float]]:
    """Name -> (colours, 0/255 shape, feather in pixels)."""
    pale = np.clip(_fit(data.coffee(), width, height).astype(np.float32) * 0.15 + 220, 0, 255).astype(
        np.uint8
    )
    return {
        "person": (_fit(data.astronaut(), width, height), _person(width, height), 2.5),
        "horse": (_fit(data.chelsea(), width, height), _horse(width, height, shift=0.0), 1.5),
        "bottle": (pale, _bottle(width, height), 1.0),
        "mug": (_fit(data.coffee()[::-1], width, height), _product(width, height), 1.0),
    }


def scenes(width: int = WIDTH, height: int = HEIGHT) -> dict[str, tuple[Array, npt.NDArray[np.float32]]]:
    """Scene name -> (RGB composite, exact alpha 0..1): every foreground on every backdrop."""
    backs = _backdrops(width, height)
    out = {}
    for fore_name, (colours, shape, feather) in _foregrounds(width, height).items():
        for back_name, back in backs.items():
            if fore_name == "horse" and back_name == "outdoor":
                shape = _horse(width, height, shift=0.45)  # cut by the right edge of the frame
            alpha = _soft(shape, feather)
            image = alpha[:, :, None] * colours + (1.0 - alpha[:, :, None]) * back
            out[f"{fore_name}/{back_name}"] = (np.clip(image + 0.5, 0, 255).astype(np.uint8), alpha)
    return out


def iou(predicted: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_]) -> float:
    union = np.count_nonzero(predicted | truth)
    return 1.0 if union == 0 else np.count_nonzero(predicted & truth) / union


def boundary_f(predicted: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_]) -> float:
    """F-score of boundary pixels matched within the tolerance (DAVIS's F measure)."""
    tolerance = max(1, round(BOUNDARY_TOLERANCE * float(np.hypot(*truth.shape))))

    def edge(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        m = mask.astype(np.uint8)
        return np.asarray(m - cv2.erode(m, np.ones((3, 3), np.uint8)), dtype=bool)

    ep, et = edge(predicted), edge(truth)
    if not ep.any() or not et.any():
        return float(ep.any() == et.any())
    near_t = cv2.distanceTransform((~et).astype(np.uint8), cv2.DIST_L2, 3) <= tolerance
    near_p = cv2.distanceTransform((~ep).astype(np.uint8), cv2.DIST_L2, 3) <= tolerance
    precision = np.count_nonzero(ep & near_t) / np.count_nonzero(ep)
    recall = np.count_nonzero(et & near_p) / np.count_nonzero(et)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@contextmanager
def without_model() -> Iterator[None]:
    """Run the classical fallback, as when the model's package is absent."""
    original = saliency._session
    saliency._session = lambda: None  # type: ignore[assignment]
    try:
        yield
    finally:
        saliency._session = original  # type: ignore[assignment]


def _classical(rgb: Array) -> Array:
    with without_model():
        return cutout.cut_out(rgb)[1]


def _bare(rgb: Array) -> Array:
    """The model's probability, upscaled bilinearly to the image: no refinement."""
    weight = saliency.saliency(rgb)
    assert weight is not None, "the model's package is not installed"
    resized = cv2.resize(weight, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(resized * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _refined(rgb: Array) -> Array:
    return cutout.cut_out(rgb)[1]


METHODS: Final[dict[str, Callable[[Array], Array]]] = {
    "classical": _classical,
    "bare_model": _bare,
    "refined_model": _refined,
}


def main(rounds: int = 1) -> dict[str, object]:
    cv2.setNumThreads(1)
    built = scenes()
    results: dict[str, object] = {"scenes": len(built), "megapixels": round(WIDTH * HEIGHT / 1e6, 2)}
    for name, method in METHODS.items():
        if name != "classical" and saliency.model_path() is None:
            results[name] = "model package not installed"
            continue
        method(built["mug/plain"][0][:64, :64])  # warm up (session load)
        ious, fs, seconds, walls = {}, [], [], []
        for scene, (image, alpha) in built.items():
            for _ in range(rounds):
                start, wall = time.process_time(), time.perf_counter()
                predicted = method(image)
                seconds.append(time.process_time() - start)
                walls.append(time.perf_counter() - wall)
            truth, cut = alpha > 0.5, predicted > 127
            ious[scene] = round(iou(cut, truth), 4)
            fs.append(boundary_f(cut, truth))
        worst = min(ious, key=ious.__getitem__)
        results[name] = {
            "mean_iou": round(statistics.fmean(ious.values()), 4),
            "worst_scene": worst,
            "worst_iou": ious[worst],
            "mean_boundary_f": round(statistics.fmean(fs), 4),
            # CPU seconds of this process (one thread): the machine is shared, so wall time
            # also counts other people's work; both are reported.
            "cpu_seconds_per_2mp": round(statistics.median(seconds), 3),
            "wall_seconds_per_2mp": round(statistics.median(walls), 3),
            "iou_per_scene": ious,
        }
    return results


if __name__ == "__main__":
    json.dump(main(), sys.stdout, indent=2)
    print()
