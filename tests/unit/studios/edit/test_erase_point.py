"""Erase at a point: the gateway places the point from the header, the worker finds the object under it."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edit_support import Studio, decode, mask_png, output_bytes
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "bench"))
import bench_cutout  # noqa: E402

IMAGE, ALPHA = bench_cutout.scenes(480, 360)["mug/plain"]
TRUTH = ALPHA > 0.5


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(IMAGE).save(buffer, "PNG")
    return buffer.getvalue()


def _on_the_object() -> dict[str, int]:
    ys, xs = np.nonzero(TRUTH)
    nearest = int(np.argmin((ys - np.median(ys)) ** 2 + (xs - np.median(xs)) ** 2))
    return {"point_x": int(xs[nearest]), "point_y": int(ys[nearest])}


def test_a_point_on_the_object_erases_it_on_the_local_path(studio: Studio) -> None:
    # Stability is configured, but its erase takes no point: auto plans the local path alone.
    job = studio.run("edit", {"operation": "erase", "grow_mask": 0, **_on_the_object()}, {"image": _png()})

    assert job["status"] == "succeeded", job
    assert job["params"]["area"] == "point" and job["params"]["point"] == list(_on_the_object().values())
    assert [r["provider"] for r in job["params"]["routes"]] == ["local"]
    assert job["params"]["skipped"][0]["provider"] == "stability"
    assert "point" in job["params"]["skipped"][0]["reason"]
    assert studio.sims["stability"].calls.count("/edit/erase") == 0
    out = np.asarray(decode(output_bytes(studio, job, "edited")).convert("RGB"))
    changed = np.abs(out.astype(np.int16) - IMAGE.astype(np.int16)).max(axis=2) > 0
    assert np.count_nonzero(changed & TRUTH) >= 0.9 * np.count_nonzero(TRUTH)
    assert np.count_nonzero(changed & ~TRUTH) <= 0.12 * np.count_nonzero(TRUTH)
    assert studio.charged(job["id"]) == 0


def test_a_point_on_the_background_fails_the_job_naming_the_point(studio: Studio) -> None:
    before = studio.get("/credits", limit=1).json()

    job = studio.run("edit", {"operation": "erase", "point_x": 5, "point_y": 5}, {"image": _png()})

    assert job["status"] == "failed", job
    error = job["error"]
    assert error["status"] == 422 and error["field"] == "point_x" and "background" in error["detail"]
    assert error["attempts"] == 1  # permanent: not retried
    after = studio.get("/credits", limit=1).json()
    assert (after["balance"], after["reserved"]) == (before["balance"], before["reserved"])
    assert studio.charged(job["id"]) == 0


@pytest.mark.parametrize(
    ("data", "files", "field"),
    [
        ({"point_x": 480, "point_y": 10}, {}, "point_x"),
        ({"point_x": 10, "point_y": 360}, {}, "point_y"),
        ({"point_x": 10}, {}, "point_y"),
        ({"point_y": 10}, {}, "point_x"),
        ({"point_x": -1, "point_y": 10}, {}, "point_x"),
        ({"point_x": 10, "point_y": 10}, {"mask": mask_png(480, 360)}, "point_x"),
        ({"point_x": 10, "point_y": 10, "path": "provider"}, {}, "point_x"),
    ],
)
def test_a_point_the_header_can_judge_is_refused_before_anything_is_stored(
    studio: Studio, data: dict[str, Any], files: dict[str, bytes], field: str
) -> None:
    response = studio.post("edit", {"operation": "erase", **data}, {"image": _png(), **files})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field
    studio.nothing_stored()


def test_only_erase_takes_a_point(studio: Studio) -> None:
    response = studio.post("edit", {"operation": "inpaint", "point_x": 1, "point_y": 1}, {"image": _png()})

    assert response.status_code == 422 and response.json()["field"] == "point_x"
    studio.nothing_stored()


def test_the_catalogue_lists_the_point_for_erase(studio: Studio) -> None:
    body = studio.get("/edit/operations").json()
    erase = next(op for op in body["operations"] if op["id"] == "erase")

    assert {"point_x", "point_y"} <= set(erase["optional"]) and "point_x" in erase["inputs"]
    assert erase["inputs"]["point_y"]["type"] == "integer" and erase["inputs"]["point_y"]["minimum"] == 0
