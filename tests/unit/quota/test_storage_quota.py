"""Storage quota, asset retention and the lossless output cap on the embedded stack (SQLite, local folder)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import quota_support as scenario
from PIL import Image
from sqlalchemy import func, select
from support import Embedded, in_process_stack, make_image, reload_settings, submit_social_job, wait_for

from imagestudio.assets.models import Asset
from imagestudio.db import session_scope
from imagestudio.jobs.models import Job
from imagestudio.jobs.runner import run_job

API = scenario.API


@pytest.fixture
def stack(embedded: Embedded) -> Iterator[Embedded]:
    import compress_worker.main  # noqa: F401  (declares compress.run_job on the session's stub broker)

    yield embedded


test_storage_quota_scenario = scenario.scenario_test("embedded")


def test_a_redelivered_job_rewriting_its_outputs_counts_them_once(embedded: Embedded) -> None:
    """A worker dies after two outputs; the redelivery rewrites them (larger) and adds a third."""
    from datetime import timedelta

    from imagestudio.db import utcnow

    _, tenant_id = embedded.new_tenant()
    job_id = submit_social_job(tenant_id)
    with pytest.raises(scenario.Stop):
        run_job(job_id, scenario.writes("a", "b", size=500, then=scenario.Stop()))
    scenario.assert_counted(tenant_id, 2 * 500)
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.lease_until = utcnow() - timedelta(seconds=1)  # the dead worker's lease runs out
    run_job(job_id, scenario.writes("a", "b", "c", size=800))
    scenario.assert_counted(tenant_id, 3 * 800)


def test_assets_sweep_command_deletes_expired_assets(embedded: Embedded) -> None:
    from typer.testing import CliRunner

    from imagestudio.cli import app

    _, tenant_id = embedded.new_tenant()
    job_id = submit_social_job(tenant_id)
    run_job(job_id, scenario.writes("a", "b"))
    scenario.age_assets(tenant_id, 40 * 86_400)
    result = CliRunner().invoke(app, ["assets", "sweep"])
    assert result.exit_code == 0, result.output
    assert "deleted 2 expired asset(s)" in result.output
    scenario.assert_counted(tenant_id, 0)


def test_each_gateway_sweeps_expired_assets_on_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stacks = in_process_stack(tmp_path, monkeypatch, IMAGESTUDIO_ASSET_SWEEP_SECONDS="0.2")
    stack = next(stacks)  # the gateway is running, its sweepers started
    try:
        _, tenant_id = stack.new_tenant()
        job_id = submit_social_job(tenant_id)
        run_job(job_id, scenario.writes("a"))
        scenario.age_assets(tenant_id, 40 * 86_400)
        wait_for(lambda: scenario.count(Asset, tenant_id) == 0, what="the gateway's asset sweeper")
        scenario.assert_counted(tenant_id, 0)
    finally:
        stacks.close()


def test_asset_retention_zero_keeps_assets(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> None:
    from imagestudio.assets.sweeper import sweep_expired_assets

    _, tenant_id = embedded.new_tenant()
    job_id = submit_social_job(tenant_id)
    run_job(job_id, scenario.writes("a"))
    scenario.age_assets(tenant_id, 10 * 365 * 86_400)
    monkeypatch.setenv("IMAGESTUDIO_ASSET_RETENTION_SECONDS", "0")
    reload_settings()
    with session_scope() as session:
        assert sweep_expired_assets(session) == 0
    scenario.assert_counted(tenant_id, 700)


def _smooth_png(width: int, height: int) -> bytes:
    """A large image that PNG compresses to little (a gradient): the amplification case."""
    ramp = np.linspace(0, 255, width, dtype=np.uint8)
    pixels = np.repeat(np.repeat(ramp[None, :, None], height, axis=0), 3, axis=2)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", optimize=True)
    return out.getvalue()


def test_a_small_png_converted_to_a_huge_bmp_is_refused_naming_the_limit(stack: Embedded) -> None:
    key = stack.new_key()
    source = _smooth_png(4000, 3000)  # 12 MP: a 36 MB BMP
    assert len(source) < 600_000
    response = stack.client.post(
        f"{API}/convert",
        headers=scenario.auth(key),
        files={"image": ("a.png", source, "image/png")},
        data={"format": "bmp"},
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"] == "https://imagestudio.dev/problems/output-too-large"
    assert body["field"] == "format" and body["limit"] == "max_lossless_output_bytes"
    assert body["output_bytes"] == 54 + 3000 * 4000 * 3 and body["limit_bytes"] == 32 * 1024 * 1024
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
    # The same image within the cap converts: a 2000 x 1500 BMP is 9 MB.
    small = stack.client.post(
        f"{API}/convert",
        headers=scenario.auth(key),
        files={"image": ("a.png", _smooth_png(2000, 1500), "image/png")},
        data={"format": "bmp"},
    )
    assert small.status_code == 202, small.text


def test_a_lossless_output_over_the_cap_fails_its_job_and_stores_nothing(
    stack: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGESTUDIO_MAX_LOSSLESS_OUTPUT_BYTES", "4096")
    reload_settings()
    key, tenant_id = stack.new_tenant()
    stack.start_worker()
    noise = np.random.default_rng(7).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "JPEG", quality=95)
    response = stack.client.post(
        f"{API}/convert",
        headers=scenario.auth(key),
        files={"image": ("a.jpg", out.getvalue(), "image/jpeg")},
        data={"format": "png"},
    )
    assert response.status_code == 202, response.text
    job = stack.wait_job(key, response.json()["id"])
    assert job["status"] == "failed" and job["outputs"] == []
    error = job["error"]
    assert error["type"] == "https://imagestudio.dev/problems/output-too-large"
    assert error["limit_bytes"] == 4096 and error["output_bytes"] > 4096 and error["field"] == "format"
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Asset)) == 0
    scenario.assert_counted(tenant_id, 0)


def test_a_conversion_writes_its_output_bytes_into_the_count(stack: Embedded) -> None:
    key, tenant_id = stack.new_tenant()
    stack.start_worker()
    created = scenario.upload(stack, key, make_image(300, 200))
    assert created.status_code == 201
    uploaded = created.json()["bytes"]
    response = stack.client.post(
        f"{API}/convert", headers=scenario.auth(key), json={"image": created.json()["id"], "format": "bmp"}
    )
    assert response.status_code == 202, response.text
    job = stack.wait_job(key, response.json()["id"])
    assert job["status"] == "succeeded", job
    (output,) = job["outputs"]
    assert output["bytes"] == 54 + 200 * 900
    scenario.assert_counted(tenant_id, uploaded + output["bytes"])
    assert stack.client.delete(f"{API}/assets/{output['id']}", headers=scenario.auth(key)).status_code == 204
    scenario.assert_counted(tenant_id, uploaded)
