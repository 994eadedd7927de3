"""The memory phase: every worker held to its pod's memory limit, one tenant's large and lying inputs
beside another tenant's ordinary jobs.

Each studio worker runs in a memory cgroup of its own (``cage.MemoryCage``) whose limit is the one
its Kubernetes manifest gives the pod (``deploy/k8s/base/workers/<studio>.yaml``), with the
manifest's ``IMAGESTUDIO_WORKER_THREADS`` and ``IMAGESTUDIO_WORKER_MEMORY_BYTES`` set to that
limit: past it the kernel kills the worker, as it would kill the pod. Then, on the same private
PostgreSQL, RabbitMQ and S3 as the chaos run:

- the **heavy** tenant sends what one tenant's ordinary use sends at the large end, and what a
  hostile one sends: 12 MP photos compressed at the defaults and converted to a lossless format,
  a 24 MP photo to seven social formats, the largest local upscale, a 250-frame animation to
  WebP, a 30000×30000 PNG header (a decompression bomb, refused at the door), and a presigned
  upload rewritten with a 144 MP image after a job checked it;
- the **ordinary** tenant sends small compress and social jobs, paced, all along.

Then the checks: no worker was OOM-killed or died (each cage's peak is under its limit), every one
of the ordinary tenant's jobs succeeded and ended within ``on_time_seconds`` of its submission, no
output of the lying upload's jobs is larger than its checked image allows, and the chaos run's
invariants hold (every job ended, the ledger exact, webhooks delivered, outbox drained).
"""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import yaml
from integration.conftest import Process
from PIL import Image
from support import ROOT, make_image

from chaos.cage import MemoryCage
from chaos.harness import API, ChaosConfig, ChaosRun, Fleet, check_invariants

#: The workers the phase runs, each caged; webhooks is not a pixel worker but delivers the events.
MEMORY_STUDIOS = ("compress", "social", "upscale", "edit", "webhooks")
MANIFESTS = ROOT / "deploy" / "k8s" / "base" / "workers"
#: The heavy tenant's set, once per round: what it is, the route, the form fields and the input
#: (its name in the run's inputs, its file name and media type).
HEAVY_SET: tuple[tuple[str, str, dict[str, str], tuple[str, str, str]], ...] = (
    ("compress 12 MP (defaults)", "/compress", {}, ("photo12", "p.jpg", "image/jpeg")),
    ("convert 12 MP to png", "/convert", {"format": "png"}, ("photo12", "p.jpg", "image/jpeg")),
    (
        "social 24 MP, 7 formats",
        "/social/optimize",
        {
            "formats": "instagram.feed_square,instagram.story,facebook.feed,linkedin.feed,twitter.post,"
            "youtube.thumbnail,pinterest.pin"
        },
        ("photo24", "p.jpg", "image/jpeg"),
    ),
    ("upscale fast 4 MP", "/upscale", {"mode": "fast", "path": "local"}, ("upscale", "p.jpg", "image/jpeg")),
    ("animated GIF 250 frames to webp", "/convert", {"format": "webp"}, ("gif", "a.gif", "image/gif")),
    ("PNG header 30000x30000", "/compress", {}, ("bomb", "b.png", "image/png")),
)
#: The ordinary tenant's submissions, taken in turn: a one-format social job, a compress to 40 kB.
ORDINARY_SET = (
    ("/social/optimize", {"formats": "instagram.feed_square"}),
    ("/compress", {"target_kb": "40"}),
)
_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "K": 1000, "M": 1000**2, "G": 1000**3}


def _quantity(text: str) -> int:
    for suffix, factor in _UNITS.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def pod_sizing(studio: str) -> tuple[int, dict[str, str]]:
    """(the pod's memory limit in bytes, the worker container's literal env) from its manifest."""
    for doc in yaml.safe_load_all((MANIFESTS / f"{studio}.yaml").read_text()):
        if doc and doc.get("kind") == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            env = {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}
            return _quantity(container["resources"]["limits"]["memory"]), env
    raise AssertionError(f"no Deployment in {studio}.yaml")


def photo(width: int, height: int, *, seed: int = 7) -> bytes:
    """A photo-like JPEG (smooth colour fields, edges and grain: what compress searches hardest)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (height // 64 + 2, width // 64 + 2, 3), dtype=np.uint8))
    pixels = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    pixels += rng.integers(-10, 11, (height, width, 1), dtype=np.int16)
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


def png_header_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` with a few rows of data (a few hundred bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\x00" * (width * 3 + 1) * 4)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def animation(frames: int, side: int) -> bytes:
    """A GIF of ``frames`` distinct frames of ``side`` × ``side``."""
    images = [Image.new("RGB", (side, side), ((i * 7) % 256, (i * 13) % 256, 90)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    return out.getvalue()


@dataclass(frozen=True)
class MemoryConfig:
    """How much of each; every loop is bounded in count and time."""

    #: Rounds of the heavy tenant's set (each round: every large and lying input once).
    heavy_rounds: int = 2
    #: The ordinary tenant's submissions, paced over ``load_seconds``.
    ordinary_jobs: int = 24
    load_seconds: float = 90.0
    drain_seconds: float = 300.0
    #: Longest an ordinary job may take from its 202 to its end.
    on_time_seconds: float = 30.0
    seed: int = 24


@dataclass
class CageFigures:
    limit_bytes: int
    peak_bytes: int
    oom_kills: int
    starts: int


@dataclass
class MemoryOutcome:
    """What the phase saw, beside the chaos report's invariants."""

    heavy: Counter[str] = field(default_factory=Counter)
    cages: dict[str, CageFigures] = field(default_factory=dict)
    ordinary_seconds: list[float] = field(default_factory=list)
    ordinary_not_succeeded: list[tuple[str, str]] = field(default_factory=list)
    lying_jobs: list[str] = field(default_factory=list)
    lying_rewrite_status: int | None = None

    def table(self) -> str:
        rows = [(f"heavy: {k}", str(v)) for k, v in sorted(self.heavy.items())]
        for studio, c in sorted(self.cages.items()):
            rows.append(
                (
                    f"worker {studio}",
                    f"peak {c.peak_bytes / 2**20:.0f} MiB of {c.limit_bytes / 2**20:.0f} MiB, "
                    f"OOM kills {c.oom_kills}, starts {c.starts}",
                )
            )
        if self.ordinary_seconds:
            ordered = sorted(self.ordinary_seconds)
            rows.append(
                (
                    "ordinary jobs, 202 to end",
                    f"n {len(ordered)}, median {ordered[len(ordered) // 2]:.1f} s, max {ordered[-1]:.1f} s",
                )
            )
        rows.append(("presigned rewrite after the check answered", str(self.lying_rewrite_status)))
        return "\n".join(f"| {name} | {value} |" for name, value in rows)


class CagedFleet(Fleet):
    """The fleet with each worker in its cage and its pod's env."""

    def __init__(
        self,
        env: dict[str, str],
        logs: Path,
        cages: dict[str, MemoryCage],
        pod_env: dict[str, dict[str, str]],
    ) -> None:
        super().__init__(env, logs, studios=MEMORY_STUDIOS)
        self.cages = cages
        self.pod_env = pod_env

    def _spawn(self, studio: str, log: Path) -> Process:
        cage = self.cages.get(studio)
        return Process(
            ["worker", studio],
            {**self.env, **self.pod_env.get(studio, {})},
            log,
            preexec_fn=cage.preexec if cage else None,
        )


class MemoryRun(ChaosRun):
    """The chaos run's services and checks, with caged workers and the two tenants' load."""

    def __init__(self, config: MemoryConfig, root: Path) -> None:
        super().__init__(ChaosConfig(tenants=2, drain_seconds=config.drain_seconds, seed=config.seed), root)
        self.memory = config
        self.outcome = MemoryOutcome()
        self.cages: dict[str, MemoryCage] = {}
        self._ordinary: list[tuple[str, float]] = []
        self._inputs = {
            "photo12": photo(4000, 3000),
            "photo24": photo(6000, 4000, seed=8),
            "upscale": photo(2000, 2000, seed=9),
            "gif": animation(250, 200),
            "bomb": png_header_bomb(30000, 30000),
            "small": make_image(640, 480, "JPEG"),
            "tiny_png": make_image(200, 150),
            "huge_png": png_header_bomb(12000, 12000),
        }

    def _fleet(self, env: dict[str, str]) -> Fleet:
        pod_env: dict[str, dict[str, str]] = {}
        for studio in MEMORY_STUDIOS:
            limit, manifest_env = pod_sizing(studio)
            self.cages[studio] = MemoryCage(studio, limit)
            pod_env[studio] = {
                **manifest_env,
                "IMAGESTUDIO_WORKER_MEMORY_BYTES": str(limit),
            }
        return CagedFleet(env, self.logs, self.cages, pod_env)

    # --- load ----------------------------------------------------------------------------------

    def _post(self, client: httpx.Client, path: str, key: str, **kwargs: Any) -> httpx.Response:
        assert self.fleet is not None
        return client.post(
            f"{self.fleet.base_url}{API}{path}", headers={"Authorization": f"Bearer {key}"}, **kwargs
        )

    def _count(self, what: str, response: httpx.Response) -> str | None:
        self.outcome.heavy[f"{what} -> {response.status_code}"] += 1
        if response.status_code == 202:
            job_id = str(response.json()["id"])
            with self._lock:
                self.report.accepted.append(job_id)
            return job_id
        return None

    def _heavy_round(self, client: httpx.Client, key: str) -> None:
        for what, path, data, (name, filename, media_type) in HEAVY_SET:
            files = {"image": (filename, self._inputs[name], media_type)}
            self._count(what, self._post(client, path, key, data=data, files=files))
        self._lying_upload(client, key)

    def _lying_upload(self, client: httpx.Client, key: str) -> None:
        """Presign, PUT a small PNG, submit (the upload is checked), PUT a 144 MP PNG, submit again."""
        presigned = self._post(
            client, "/uploads", key, json={"content_type": "image/png", "bytes": 2_000_000}
        )
        if presigned.status_code != 201:
            self.outcome.heavy[f"presign -> {presigned.status_code}"] += 1
            return
        body = presigned.json()
        client.put(body["put_url"], content=self._inputs["tiny_png"], headers={"content-type": "image/png"})
        first = self._count(
            "upload checked, upscale",
            self._post(client, "/upscale", key, json={"image": body["id"], "mode": "fast", "path": "local"}),
        )
        rewrite = client.put(
            body["put_url"], content=self._inputs["huge_png"], headers={"content-type": "image/png"}
        )
        self.outcome.lying_rewrite_status = rewrite.status_code
        second = self._count(
            "upload rewritten, upscale again",
            self._post(client, "/upscale", key, json={"image": body["id"], "mode": "fast", "path": "local"}),
        )
        self.outcome.lying_jobs += [job for job in (first, second) if job]

    def _heavy(self) -> None:
        with httpx.Client(timeout=120) as client:
            for _ in range(self.memory.heavy_rounds):
                if self._done_load.is_set():
                    return
                self._heavy_round(client, self.keys[0])

    def _ordinary_load(self, start: float) -> None:
        spacing = self.memory.load_seconds / max(self.memory.ordinary_jobs, 1)
        with httpx.Client(timeout=60) as client:
            for n in range(self.memory.ordinary_jobs):
                time.sleep(max(0.0, start + n * spacing - time.monotonic()))
                path, data = ORDINARY_SET[n % 2]
                files = {"image": ("s.jpg", self._inputs["small"], "image/jpeg")}
                response = self._post(client, path, self.keys[1], data=data, files=files)
                if response.status_code == 202:
                    job_id = str(response.json()["id"])
                    with self._lock:
                        self.report.accepted.append(job_id)
                        self._ordinary.append((job_id, time.monotonic()))
                else:
                    self.outcome.ordinary_not_succeeded.append(
                        ("refused", f"{response.status_code} {response.text[:200]}")
                    )

    # --- the run -------------------------------------------------------------------------------

    def run_memory(self) -> MemoryOutcome:
        self._t0 = time.monotonic()
        try:
            self.start()
            assert self.fleet is not None
            start = time.monotonic()
            threads = [
                threading.Thread(target=self._guard, args=(self._heavy,), daemon=True),
                threading.Thread(target=self._guard, args=(self._ordinary_load, start), daemon=True),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(self.memory.load_seconds * 3)
            self._done_load.set()
            self.report.load_seconds = time.monotonic() - start
            self._drain(self.memory.drain_seconds)
            check_invariants(self)
            self._check_memory()
        finally:
            self.report.wall_seconds = time.monotonic() - self._t0
            self.stop()
            for cage in self.cages.values():
                cage.remove()
        return self.outcome

    def _check_memory(self) -> None:
        assert self.fleet is not None
        failures = self.report.failures
        for studio, cage in self.cages.items():
            figures = CageFigures(
                cage.limit_bytes, cage.peak_bytes, cage.oom_kills, self.fleet.starts(studio)
            )
            self.outcome.cages[studio] = figures
            if figures.oom_kills or figures.starts != 1:
                failures.append(f"worker {studio} died: {figures}")
        with psycopg.connect(self.postgres.url, autocommit=True) as conn:
            for job_id, _ in self._ordinary:
                row = conn.execute(
                    "SELECT status, extract(epoch FROM finished_at - created_at), error->>'title' FROM jobs WHERE id = %s",
                    (job_id,),
                ).fetchone()
                assert row is not None
                status, seconds, title = row
                if status != "succeeded":
                    self.outcome.ordinary_not_succeeded.append((job_id, f"{status} {title}"))
                else:
                    self.outcome.ordinary_seconds.append(float(seconds))
            # The rewritten object is never what a job reads: every output of the upload's jobs
            # comes from the 200x150 image checked first (an upscale of it, never of 144 MP).
            for job_id in self.outcome.lying_jobs:
                for width, height in conn.execute(
                    "SELECT width, height FROM assets WHERE job_id = %s", (job_id,)
                ).fetchall():
                    if (width or 0) * (height or 0) > 16 * 200 * 150:
                        failures.append(f"a job on the rewritten upload made {width}x{height}: {job_id}")
        if self.outcome.ordinary_not_succeeded:
            failures.append(f"ordinary jobs not succeeded: {self.outcome.ordinary_not_succeeded[:10]}")
        late = [s for s in self.outcome.ordinary_seconds if s > self.memory.on_time_seconds]
        if late:
            failures.append(
                f"{len(late)} ordinary job(s) over {self.memory.on_time_seconds} s: {sorted(late)[-5:]}"
            )
