"""Both clients on the distributed system: a gateway process (with its relay and job sweeper) on
PostgreSQL, RabbitMQ and S3, and the compress worker as a process of its own.

Each client, knowing only the gateway's URL and a key, uploads (multipart and presigned straight to
S3), lists its uploads, runs a job with a priority and an output retention, runs one by URL with
progress, downloads from S3, submits a batch, sees a queued social job's queue position (no social
worker runs) and cancels it, and sees a job given a start deadline end ``expired`` by the sweeper.
The image host is ``image_url_support``'s loopback server (``REMOTE_IMAGE_ALLOW_LOOPBACK``).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_url_support import serving_images
from support import make_image
from typescript_support import built_copy

from imagestudio_client import ImageStudio
from integration.conftest import Stack

#: Loopback image URLs for the gateway and the worker, and a sweeper quick enough to expire a job in seconds.
ENV = {"IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK": "true", "IMAGESTUDIO_JOB_SWEEP_SECONDS": "1"}

pytestmark = [pytest.mark.integration, pytest.mark.gateway_env(**ENV)]


@pytest.fixture
def host() -> Iterator[str]:
    with serving_images() as base_url:
        yield base_url


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(make_image(640, 480))
    return path


def test_the_python_client_runs_every_kind_of_call_on_the_distributed_system(
    stack: Stack, host: str, photo: Path, tmp_path: Path
) -> None:
    worker = stack.worker("compress", **ENV)
    with ImageStudio(stack.base_url, stack.key) as client:
        upload = client.uploads.create(photo)
        data = photo.read_bytes()
        presigned = client.uploads.presign(
            content_type="image/png", size_bytes=len(data), filename="presigned.png"
        )
        client.uploads.put(presigned, data)  # straight to S3
        listed = [u.id for u in client.uploads.list(page_size=1)]
        assert {upload.id, presigned.id} <= set(listed), listed

        job = client.convert(upload.id, format="webp", priority="high", output_retention_seconds=3600)
        done = job.wait(timeout=120)
        assert done.status == "succeeded", (done.error, worker.output())
        assert (done.priority, done.output_retention_seconds) == ("high", 3600)
        assert done.outputs_expire_at is not None
        [saved] = done.download(tmp_path / "out")  # from S3's presigned links
        assert saved.stat().st_size == done.outputs[0].bytes

        seen: list[str] = []
        by_url = client.compress(f"{host}/photo.png", format="jpeg", quality=70)
        finished = by_url.wait(timeout=120, on_progress=lambda p: seen.append(p.status))
        assert finished.status == "succeeded" and finished.params["image_urls"] == {
            "image": f"{host}/photo.png"
        }
        assert seen[-1] == "succeeded", seen
        outputs = client.run("convert", presigned.id, format="png")
        assert [(o.format, o.width, o.height) for o in outputs] == [("png", 640, 480)]

        results = client.jobs.batch(
            [{"studio": "convert", "params": {"image": upload.id, "format": "jpeg"}}] * 2
        )
        assert [r.status for r in results] == [202, 202]
        assert {r.job.wait(timeout=120).status for r in results if r.job} == {"succeeded"}

        waiting = client.social.optimize(upload.id, formats=["instagram.story"])
        assert waiting.refresh().queue_position is not None  # no social worker: it stays queued
        assert client.jobs.cancel(waiting.id).status == "canceled"
        late = client.social.optimize(upload.id, formats=["instagram.story"], start_deadline=1)
        assert late.wait(timeout=60).status == "expired"
        assert client.credits.get().reserved == 0


TS_SCRIPT = """import { readFile } from "node:fs/promises";
import { ImageStudio } from "./dist/src/index.js";

const env = process.env;
const studio = new ImageStudio({ baseUrl: env.IMAGESTUDIO_URL, apiKey: env.IMAGESTUDIO_API_KEY });
const photo = new Blob([await readFile(env.PHOTO)], { type: "image/png" });
const report = {};

const upload = await studio.uploadImage(photo, "photo.png");
const presigned = await studio.uploadPresigned(photo, "presigned.png");
const listed = [];
for await (const item of studio.listUploads({ pageSize: 1 })) listed.push(item.id);
report.listed = [listed.includes(upload.id), listed.includes(presigned.id)];

const job = await studio.convert({ image: upload.id, format: "webp", priority: "high", output_retention_seconds: 3600 });
const done = await studio.waitForJob(job.id, { timeoutMs: 120_000 });
const [file] = await studio.downloadOutputs(done);
report.converted = [done.status, done.priority, done.output_retention_seconds, done.outputs_expire_at !== null, file.data.byteLength === done.outputs[0].bytes];

const seen = [];
const byUrl = await studio.compress({ image: `${env.IMAGE_HOST}/photo.png`, format: "jpeg", quality: 70 });
const fetched = await studio.waitForJob(byUrl.id, { timeoutMs: 120_000, onProgress: (p) => seen.push(p.status) });
report.byUrl = [fetched.status, fetched.params.image_urls.image === `${env.IMAGE_HOST}/photo.png`, seen.at(-1)];
const outputs = await studio.run("convert", { image: presigned.id, format: "png" }, { timeoutMs: 120_000 });
report.run = outputs.map((o) => [o.format, o.width, o.height]);

const batch = await studio.batch([{ studio: "convert", params: { image: upload.id, format: "jpeg" } }, { studio: "convert", params: { image: upload.id, format: "jpeg" } }]);
const ended = await Promise.all(batch.map((entry) => studio.waitForJob(entry.job.id, { timeoutMs: 120_000 })));
report.batch = [batch.map((entry) => entry.status), ended.map((j) => j.status)];

const waiting = await studio.socialOptimize({ image: upload.id, formats: ["instagram.story"] });
const queued = await studio.getJob(waiting.id);
report.queued = [queued.status, typeof queued.queue_position, (await studio.cancelJob(waiting.id)).status];
const late = await studio.socialOptimize({ image: upload.id, formats: ["instagram.story"], start_deadline: 1 });
report.late = (await studio.waitForJob(late.id, { timeoutMs: 60_000 })).status;
report.reserved = (await studio.credits()).reserved;
console.log(JSON.stringify(report));
"""


def test_the_typescript_client_runs_every_kind_of_call_on_the_distributed_system(
    stack: Stack, host: str, photo: Path, tmp_path: Path
) -> None:
    package = built_copy(tmp_path / "ts")
    worker = stack.worker("compress", **ENV)
    (package / "distributed.mjs").write_text(TS_SCRIPT)
    env = {
        **os.environ,
        "IMAGESTUDIO_URL": stack.base_url,
        "IMAGESTUDIO_API_KEY": stack.key,
        "PHOTO": str(photo),
        "IMAGE_HOST": host,
    }
    ran = subprocess.run(
        ["node", "distributed.mjs"], cwd=package, env=env, capture_output=True, text=True, timeout=600
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr + worker.output()
    assert json.loads(ran.stdout) == {
        "listed": [True, True],
        "converted": ["succeeded", "high", 3600, True, True],
        "byUrl": ["succeeded", True, "succeeded"],
        "run": [["png", 640, 480]],
        "batch": [[202, 202], ["succeeded", "succeeded"]],
        "queued": ["queued", "number", "canceled"],
        "late": "expired",
        "reserved": 0,
    }
