"""The local cut-out's learned mask (U²-Net-p from the installed wheel) and its classical fallback.

Scenes are ``bench/bench_cutout.py``'s composites at a small size: the exact alpha is known, so a
blank, inverted or shifted mask fails the IoU bounds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from imagestudio.imaging import cutout, saliency

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import bench_cutout  # noqa: E402

SCENES = bench_cutout.scenes(480, 360)


def _iou(name: str, alpha: np.ndarray) -> float:
    return bench_cutout.iou(alpha > 127, SCENES[name][1] > 0.5)


def test_the_model_file_comes_from_the_installed_package() -> None:
    path = saliency.model_path()

    assert path is not None and path.name == "u2netp.onnx" and path.parent.name == "rembg"
    assert path.stat().st_size > 4_000_000


def test_the_model_sees_the_subject_where_the_classical_method_loses_it() -> None:
    # A pale bottle on a white ramp: the backdrop prior reads most of it as shadow.
    image, truth = SCENES["bottle/plain"]

    weight = saliency.saliency(image)
    learned = cutout.cut_out(image)[1]
    with bench_cutout.without_model():
        classical = cutout.cut_out(image)[1]

    assert weight is not None and weight.shape == (320, 320)
    assert _iou("bottle/plain", learned) > 0.95
    assert _iou("bottle/plain", classical) < 0.6
    assert learned.shape == truth.shape and learned.dtype == np.uint8


def test_the_edge_stays_soft_where_the_truth_is_soft() -> None:
    image, truth = SCENES["person/plain"]

    alpha = cutout.cut_out(image)[1]

    partial = (alpha > 10) & (alpha < 245)
    edge = (truth > 0.05) & (truth < 0.95)
    assert np.count_nonzero(partial & edge) > 0.3 * np.count_nonzero(edge)
    assert np.count_nonzero(partial) < 4 * np.count_nonzero(edge)  # only the edge band is soft


def test_without_the_model_the_classical_method_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(saliency, "_session", lambda: None)
    calls: list[object] = []
    original = cutout._segment

    def spy(rgb: np.ndarray) -> object:
        calls.append(rgb.shape)
        return original(rgb)

    monkeypatch.setattr(cutout, "_segment", spy)
    image, _ = SCENES["mug/plain"]

    alpha = cutout.cut_out(image)[1]

    assert saliency.saliency(image) is None
    assert len(calls) == 1
    assert _iou("mug/plain", alpha) > 0.9


def test_a_missing_package_means_no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(saliency, "MODEL_PACKAGE", "no_such_package_for_the_cutout")
    saliency._session.cache_clear()
    try:
        assert saliency.model_path() is None
        assert saliency.saliency(SCENES["mug/plain"][0]) is None
    finally:
        monkeypatch.undo()
        saliency._session.cache_clear()
    assert saliency.saliency(SCENES["mug/plain"][0]) is not None
