"""The chaos run: the real system on private services, a bounded mixed load, faults, then the checks.

``ChaosRun(config, root).run()`` starts a private PostgreSQL, RabbitMQ and moto S3
(``services.py``), the provider simulators and a webhook receiver that fails every 5th POST (in
this process), the gateway (``imagestudio up`` with its outbox relay) and one worker per studio
plus the webhooks worker (``imagestudio worker <studio>``). While submitters post create jobs (on
the simulators, with scripted provider faults), local edit and upscale jobs and social jobs, one
thread SIGKILLs a random worker every few seconds (a supervisor starts it again) and another
restarts RabbitMQ, PostgreSQL and S3 in turn, spread over the submissions. When the load ends the
run waits (bounded) for every job to end, then ``check_invariants`` queries the private database,
S3 and the receiver's records; ``ChaosReport.table()`` prints the figures.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from integration.conftest import Process, create_key
from support import free_port, make_image
from unit.webhooks.webhook_receiver import Receiver

from chaos.services import MotoS3, PrivatePostgres, PrivateRabbit
from simulators import (
    GeminiSimulator,
    HuggingFaceSimulator,
    StabilitySimulator,
    WaveSpeedSimulator,
    run_in_thread,
)
from simulators.server import RunningSimulator

API = "/api/image-studio"
STUDIOS = ("create", "edit", "upscale", "social", "webhooks")
TERMINAL = ("succeeded", "failed", "canceled")

#: Provider faults pushed before some create submissions (the simulators' failure modes).
PROVIDER_FAULTS: tuple[dict[str, Any], ...] = (
    {"status": 429, "retry_after": 0.2},
    {"status": 503},
    {"status": 500},
    {"delay": 1.5},
    {"content_filter": True},
)

#: Short waits everywhere, so a run spends its time on faults, not on back-off.
TUNING = {
    "IMAGESTUDIO_ENVIRONMENT": "test",
    "IMAGESTUDIO_JOB_MIN_BACKOFF_SECONDS": "0.2",
    "IMAGESTUDIO_JOB_MAX_BACKOFF_SECONDS": "3",
    "IMAGESTUDIO_JOB_MAX_ATTEMPTS": "5",
    "IMAGESTUDIO_OUTBOX_POLL_SECONDS": "0.2",
    "IMAGESTUDIO_WEBHOOK_ALLOW_LOOPBACK": "true",
    "IMAGESTUDIO_WEBHOOK_RETRY_SCHEDULE_SECONDS": "[0, 0.2, 0.5, 1, 2]",
    "IMAGESTUDIO_WEBHOOK_SWEEP_SECONDS": "5",
    "IMAGESTUDIO_PROVIDER_RETRY_BASE_SECONDS": "0.05",
    "IMAGESTUDIO_PROVIDER_MAX_ATTEMPTS": "2",
    "IMAGESTUDIO_PROVIDER_MAX_WAIT_SECONDS": "1",
    "IMAGESTUDIO_PROVIDER_POLL_INTERVAL_SECONDS": "0.05",
    "IMAGESTUDIO_ASYNC_POLL_INTERVAL_SECONDS": "0.2",
    "IMAGESTUDIO_PROVIDER_TIMEOUT_SECONDS": "20",
    "IMAGESTUDIO_CIRCUIT_FAILURE_THRESHOLD": "3",
    "IMAGESTUDIO_CIRCUIT_COOLDOWN_SECONDS": "5",
    "IMAGESTUDIO_METRICS_PORT": "0",
    "IMAGESTUDIO_WORKER_THREADS": "2",
}


@dataclass(frozen=True)
class ChaosConfig:
    """How much load and how many faults; every loop is bounded in count and in time."""

    #: Submissions attempted (accepted ones are the jobs the checks follow).
    jobs: int = 300
    #: The submissions are paced evenly over this many seconds (a bound: late ones are dropped
    #: after half as long again); the service restarts are spread over the same span.
    load_seconds: float = 150.0
    #: Upper bound on the wait, after the load, for every job, message and delivery to end.
    drain_seconds: float = 240.0
    #: A random worker is SIGKILLed this often during the load.
    kill_every_seconds: float = 5.0
    rabbit_restarts: int = 1
    postgres_restarts: int = 1
    s3_restarts: int = 1
    tenants: int = 3
    submitters: int = 4
    #: Share of submissions that name the receiver as their ``webhook_url``.
    webhook_share: float = 0.3
    #: Share of create submissions preceded by one scripted provider fault.
    provider_fault_share: float = 0.25
    #: Share of accepted jobs canceled right after submission.
    cancel_share: float = 0.05
    seed: int = 12


@dataclass
class Fault:
    kind: str
    at: float
    #: Seconds the service took to stop and come back (its restart).
    restart_seconds: float = 0.0
    #: Seconds from the service being back until the next job ended (None: none did in time).
    recovery_seconds: float | None = None
    #: Jobs queued or running when the service was back (0: nothing to recover).
    open_jobs: int | None = None
    #: Seconds from the service being back until a probe job, submitted then, ended.
    probe_seconds: float | None = None


@dataclass
class ChaosReport:
    config: ChaosConfig
    attempted: int = 0
    accepted: list[str] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    canceled_requests: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_studio: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Failed jobs by (studio, error title): what the faults cost.
    failed_by_error: dict[tuple[str, str], int] = field(default_factory=dict)
    worker_kills: int = 0
    provider_faults: int = 0
    faults: list[Fault] = field(default_factory=list)
    receiver_requests: int = 0
    receiver_500s: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)
    load_seconds: float = 0.0
    drain_seconds: float = 0.0
    wall_seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    logs: Path | None = None

    def table(self) -> str:
        """The figures, as a Markdown table."""
        rows: list[tuple[str, str]] = [
            ("submissions attempted", str(self.attempted)),
            ("jobs accepted (202)", str(len(self.accepted))),
            ("submissions refused", ", ".join(f"{k}: {v}" for k, v in sorted(self.refused.items())) or "0"),
            ("cancel requests", str(self.canceled_requests)),
        ]
        rows += [(f"jobs {status}", str(count)) for status, count in sorted(self.by_status.items())]
        for studio, counts in sorted(self.by_studio.items()):
            rows.append((f"  {studio}", ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))))
        for (studio, title), count in sorted(self.failed_by_error.items()):
            rows.append((f"  failed {studio}: {title}", str(count)))
        rows += [
            ("workers SIGKILLed", str(self.worker_kills)),
            ("provider faults scripted", str(self.provider_faults)),
            ("webhook POSTs received / answered 500", f"{self.receiver_requests} / {self.receiver_500s}"),
            ("webhook deliveries", ", ".join(f"{k} {v}" for k, v in sorted(self.deliveries.items())) or "0"),
        ]
        for fault in self.faults:
            if fault.recovery_seconds is not None:
                recovery = f"{fault.recovery_seconds:.1f} s ({fault.open_jobs} open)"
            else:
                recovery = "- (no job open)" if fault.open_jobs == 0 else "none within 120 s"
            probe = "none within 120 s" if fault.probe_seconds is None else f"{fault.probe_seconds:.1f} s"
            recovery += f"; a probe job submitted then ended after {probe}"
            rows.append(
                (
                    f"{fault.kind} restart at load t={fault.at:.0f} s",
                    f"down/restart {fault.restart_seconds:.1f} s, next job ended after {recovery}",
                )
            )
        rows += [
            ("load phase", f"{self.load_seconds:.0f} s"),
            ("drain (until all ended)", f"{self.drain_seconds:.0f} s"),
            ("total wall time", f"{self.wall_seconds:.0f} s"),
            ("invariants", "all hold" if not self.failures else f"{len(self.failures)} FAILED"),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"| {'figure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
        return "\n".join(lines)


class Fleet:
    """The gateway and one worker process per studio; a killed worker is started again."""

    def __init__(self, env: dict[str, str], logs: Path, *, studios: tuple[str, ...] = STUDIOS) -> None:
        self.env = env
        self.logs = logs
        self.studios = studios
        self.gateway: Process | None = None
        self.workers: dict[str, Process] = {}
        self.base_url = ""
        self._lock = threading.Lock()
        self._started = Counter[str]()
        self._retired: list[Process] = []

    def start_gateway(self) -> None:
        port = free_port()
        self.gateway = Process(["up", "--port", str(port)], self.env, self.logs / "gateway.log")
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.gateway.proc.poll() is not None:
                raise RuntimeError("gateway exited:\n" + self.gateway.output()[-4000:])
            try:
                if httpx.get(f"{self.base_url}{API}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gateway did not become ready:\n" + self.gateway.output()[-4000:])

    def start_worker(self, studio: str) -> None:
        with self._lock:
            self._started[studio] += 1
            log = self.logs / f"worker-{studio}-{self._started[studio]}.log"
            self.workers[studio] = self._spawn(studio, log)

    def _spawn(self, studio: str, log: Path) -> Process:
        return Process(["worker", studio], self.env, log)

    def starts(self, studio: str) -> int:
        """Times the studio's worker was started (1: it never died nor was killed)."""
        return self._started[studio]

    def kill(self, studio: str) -> None:
        """SIGKILL: no chance to ack, nack or record anything; its unacked messages go back."""
        with self._lock:
            proc = self.workers.pop(studio)
        proc.kill()
        proc.stop()
        self._retired.append(proc)

    def ensure_workers(self) -> None:
        for studio in self.studios:
            proc = self.workers.get(studio)
            if proc is None or proc.proc.poll() is not None:
                if proc is not None:
                    proc.stop()
                    self._retired.append(proc)
                self.start_worker(studio)

    def stop(self) -> None:
        for proc in list(self.workers.values()):
            proc.stop()
        if self.gateway is not None:
            self.gateway.stop()


class ChaosRun:
    def __init__(self, config: ChaosConfig, root: Path) -> None:
        self.config = config
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(config.seed)
        self.report = ChaosReport(config=config, logs=self.logs)
        self.bucket = f"chaos-{uuid.uuid4().hex[:8]}"
        self.postgres = PrivatePostgres(self.logs)
        self.rabbit = PrivateRabbit(root)
        self.s3 = MotoS3(root, self.bucket)
        self.sims: dict[str, Any] = {}
        self.running: list[RunningSimulator] = []
        self.receiver = Receiver(fail_every=5)
        self.fleet: Fleet | None = None
        self.keys: list[str] = []
        self._lock = threading.Lock()
        self._done_load = threading.Event()
        self._watchers: list[threading.Thread] = []
        self._t0 = time.monotonic()
        self._images = {
            "edit": make_image(96, 64),
            "upscale": make_image(64, 48),
            "social": make_image(640, 480, "JPEG"),
        }

    # --- set-up --------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {
            **TUNING,
            "IMAGESTUDIO_SECRET_KEY": "chaos-secret-key-0123456789abcdef0123",
            "IMAGESTUDIO_DATA_DIR": str(self.root / "data"),
            "IMAGESTUDIO_DATABASE_URL": self.postgres.url,
            "IMAGESTUDIO_BROKER_URL": self.rabbit.url,
            "IMAGESTUDIO_STORAGE_BACKEND": "s3",
            "IMAGESTUDIO_S3_ENDPOINT": f"127.0.0.1:{self.s3.port}",
            "IMAGESTUDIO_S3_ACCESS_KEY": "testing",
            "IMAGESTUDIO_S3_SECRET_KEY": "testing",
            "IMAGESTUDIO_S3_BUCKET": self.bucket,
            "IMAGESTUDIO_S3_SECURE": "false",
        }
        for name, sim in self.sims.items():
            env[f"IMAGESTUDIO_{name.upper()}_API_KEY"] = sim.api_key
        for name, handle in zip(self.sims, self.running, strict=True):
            env[f"IMAGESTUDIO_{name.upper()}_BASE_URL"] = handle.base_url
        return env

    def start(self) -> None:
        self.postgres.start()
        self.rabbit.start()
        self.s3.start()
        self.sims = {
            "stability": StabilitySimulator(),
            "wavespeed": WaveSpeedSimulator(in_progress_polls=1),
            "huggingface": HuggingFaceSimulator(),
            "gemini": GeminiSimulator(),
        }
        self.running = [run_in_thread(sim.app) for sim in self.sims.values()]
        env = self._env()
        self.fleet = self._fleet(env)
        self.fleet.start_gateway()  # migrates the private database
        for index in range(self.config.tenants):
            name = f"chaos-{index}-{uuid.uuid4().hex[:6]}"
            self.keys.append(create_key(env, name))
            with psycopg.connect(self.postgres.url, autocommit=True) as conn:
                row = conn.execute("SELECT id FROM tenants WHERE name = %s", (name,)).fetchone()
                assert row is not None
                # The load is the point: no tenant limit may refuse it.
                conn.execute(
                    "UPDATE tenants SET requests_per_minute = 1000000, max_concurrent_jobs = 1000000 WHERE id = %s",
                    (row[0],),
                )
            self._cli(env, "credits", "grant", row[0], "1000000", "--note", "chaos run")
        self.fleet.ensure_workers()

    def _fleet(self, env: dict[str, str]) -> Fleet:
        return Fleet(env, self.logs)

    def _cli(self, env: dict[str, str], *args: str) -> None:
        import os
        import subprocess
        import sys

        result = subprocess.run(
            [str(Path(sys.executable).parent / "imagestudio"), *args],
            env={**os.environ, **env, "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def stop(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()
        for handle in self.running:
            handle.stop()
        self.receiver.close()
        self.s3.stop()
        self.rabbit.stop()
        self.postgres.stop()

    # --- load ----------------------------------------------------------------------------------

    def _submit_one(self, client: httpx.Client, rng: random.Random) -> None:
        assert self.fleet is not None
        key = rng.choice(self.keys)
        headers = {"Authorization": f"Bearer {key}"}
        hook = {"webhook_url": self.receiver.url} if rng.random() < self.config.webhook_share else {}
        kind = rng.choices(("create", "edit", "upscale", "social"), weights=(35, 20, 20, 25))[0]
        url = f"{self.fleet.base_url}{API}"
        try:
            if kind == "create":
                if rng.random() < self.config.provider_fault_share:
                    sim = self.sims[rng.choice(sorted(self.sims))]
                    sim.faults.push(rng.choice(PROVIDER_FAULTS))
                    with self._lock:
                        self.report.provider_faults += 1
                response = client.post(
                    f"{url}/create", json={"prompt": "a lighthouse at dawn", **hook}, headers=headers
                )
            elif kind == "edit":
                form = {"operation": "outpaint", "path": "local", "left": "16", "down": "8", **hook}
                response = client.post(
                    f"{url}/edit",
                    data=form,
                    files={"image": ("a.png", self._images["edit"], "image/png")},
                    headers=headers,
                )
            elif kind == "upscale":
                form = {"mode": "fast", "path": "local", **hook}
                response = client.post(
                    f"{url}/upscale",
                    data=form,
                    files={"image": ("a.png", self._images["upscale"], "image/png")},
                    headers=headers,
                )
            else:
                form = {"formats": "instagram.feed_square", **hook}
                response = client.post(
                    f"{url}/social/optimize",
                    data=form,
                    files={"image": ("a.jpg", self._images["social"], "image/jpeg")},
                    headers=headers,
                )
        except httpx.HTTPError as exc:
            with self._lock:
                self.report.refused[type(exc).__name__] += 1
            return
        if response.status_code != 202:
            with self._lock:
                self.report.refused[str(response.status_code)] += 1
            return
        job_id = response.json()["id"]
        with self._lock:
            self.report.accepted.append(job_id)
        if rng.random() < self.config.cancel_share:
            try:
                client.post(f"{url}/jobs/{job_id}/cancel", headers=headers)
                with self._lock:
                    self.report.canceled_requests += 1
            except httpx.HTTPError:
                pass

    def _submitter(self, index: int, start: float, deadline: float) -> None:
        rng = random.Random(self.config.seed * 1000 + index)
        spacing = self.config.load_seconds / max(self.config.jobs, 1)
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < deadline:
                with self._lock:
                    if self.report.attempted >= self.config.jobs:
                        return
                    slot = start + self.report.attempted * spacing
                    self.report.attempted += 1
                time.sleep(max(0.0, min(slot - time.monotonic(), deadline - time.monotonic())))
                self._submit_one(client, rng)

    # --- faults --------------------------------------------------------------------------------

    def _killer(self) -> None:
        assert self.fleet is not None
        while not self._done_load.wait(self.config.kill_every_seconds):
            studio = self.rng.choice(STUDIOS)
            if studio in self.fleet.workers:
                self.fleet.kill(studio)
                self.report.worker_kills += 1
                self.fleet.start_worker(studio)  # the supervisor (systemd, Kubernetes) starts it again

    def _job_counts(self) -> tuple[int, int]:
        """(jobs ended, jobs queued or running)."""
        with psycopg.connect(self.postgres.url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'canceled')),"
                " count(*) FILTER (WHERE status IN ('queued', 'running')) FROM jobs"
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def _recovery(self, fault: Fault, since: float, bound: float = 120.0) -> None:
        """Seconds from ``since`` (the service back) until one more job has ended (None past ``bound``)."""
        baseline: int | None = None
        while time.monotonic() - since < bound:
            try:
                ended, open_jobs = self._job_counts()
            except psycopg.Error:
                time.sleep(0.1)
                continue
            if baseline is None:
                fault.open_jobs = open_jobs
                if not open_jobs:
                    return  # nothing left to end: no recovery to time
                baseline = ended
            elif ended > baseline:
                fault.recovery_seconds = time.monotonic() - since
                return
            time.sleep(0.1)

    def _probe(self, fault: Fault, since: float, bound: float = 120.0) -> None:
        """Seconds from ``since`` until a local upscale job submitted then (retried until accepted) ended."""
        assert self.fleet is not None
        job_id = None
        with httpx.Client(timeout=10) as client:
            while time.monotonic() - since < bound:
                try:
                    if job_id is None:
                        response = client.post(
                            f"{self.fleet.base_url}{API}/upscale",
                            data={"mode": "fast", "path": "local"},
                            files={"image": ("probe.png", self._images["upscale"], "image/png")},
                            headers={"Authorization": f"Bearer {self.keys[0]}"},
                        )
                        if response.status_code == 202:
                            job_id = response.json()["id"]
                            with self._lock:
                                self.report.accepted.append(job_id)
                    else:
                        with psycopg.connect(self.postgres.url, autocommit=True, connect_timeout=5) as conn:
                            row = conn.execute("SELECT status FROM jobs WHERE id = %s", (job_id,)).fetchone()
                        if row is not None and row[0] in TERMINAL:
                            fault.probe_seconds = time.monotonic() - since
                            return
                except (httpx.HTTPError, psycopg.Error):
                    pass
                time.sleep(0.1)

    def _restarter(self, start: float) -> None:
        cfg = self.config
        plan = (
            ["rabbitmq"] * cfg.rabbit_restarts
            + ["postgresql"] * cfg.postgres_restarts
            + ["s3"] * cfg.s3_restarts
        )
        # Interleave the kinds (rabbitmq, postgresql, s3, rabbitmq, ...), spread over the submissions.
        order = sorted(range(len(plan)), key=lambda i: (plan[: i + 1].count(plan[i]), plan[i]))
        plan = [plan[i] for i in order]
        services = {"rabbitmq": self.rabbit, "postgresql": self.postgres, "s3": self.s3}
        for step, kind in enumerate(plan):
            at = start + cfg.load_seconds * (step + 1) / (len(plan) + 1)
            time.sleep(max(0.0, at - time.monotonic()))
            fault = Fault(kind=kind, at=time.monotonic() - start)
            fault.restart_seconds = services[kind].restart()
            self.report.faults.append(fault)
            # Timed on the side, so the next fault keeps its place in the schedule.
            back = time.monotonic()
            for measure in (self._recovery, self._probe):
                watcher = threading.Thread(target=self._guard, args=(measure, fault, back), daemon=True)
                watcher.start()
                self._watchers.append(watcher)

    # --- the run -------------------------------------------------------------------------------

    def _guard(self, target: Any, *args: Any) -> None:
        """Run a load or fault thread; an exception in it fails the run instead of vanishing."""
        try:
            target(*args)
        except Exception as exc:
            self.report.failures.append(f"harness thread {target.__name__} crashed: {exc!r}")

    def _quiet(self) -> bool:
        with psycopg.connect(self.postgres.url, autocommit=True, connect_timeout=5) as conn:
            open_jobs = conn.execute(
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"
            ).fetchone()
            outbox = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
            pending = conn.execute(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
            ).fetchone()
        assert open_jobs is not None and outbox is not None and pending is not None
        return open_jobs[0] == outbox[0] == pending[0] == 0

    def _drain(self, bound: float) -> None:
        """Wait, at most ``bound`` seconds, for every job, message and delivery to end."""
        drain_start = time.monotonic()
        while time.monotonic() - drain_start < bound:
            try:
                if self._quiet():
                    break
            except psycopg.Error:
                pass
            time.sleep(0.5)
        self.report.drain_seconds = time.monotonic() - drain_start

    def run(self) -> ChaosReport:
        self._t0 = time.monotonic()
        try:
            self.start()
            assert self.fleet is not None
            load_start = time.monotonic()
            deadline = load_start + self.config.load_seconds * 1.5
            threads = [
                threading.Thread(
                    target=self._guard, args=(self._submitter, i, load_start, deadline), daemon=True
                )
                for i in range(self.config.submitters)
            ]
            faults = [
                threading.Thread(target=self._guard, args=(self._killer,), daemon=True),
                threading.Thread(target=self._guard, args=(self._restarter, load_start), daemon=True),
            ]
            for thread in threads + faults:
                thread.start()
            for thread in threads:
                thread.join()
            self._done_load.set()
            for thread in faults:
                thread.join(300)
            for thread in self._watchers:
                thread.join(150)
            self.report.load_seconds = time.monotonic() - load_start
            # The storm is over: every worker runs again; now everything accepted must end.
            self.fleet.ensure_workers()
            self._drain(self.config.drain_seconds)
            check_invariants(self)
        finally:
            self.report.wall_seconds = time.monotonic() - self._t0
            self.stop()
        return self.report


# --- the checks ------------------------------------------------------------------------------------


def _rows(conn: psycopg.Connection[Any], sql: str) -> list[tuple[Any, ...]]:
    return conn.execute(sql).fetchall()


def check_invariants(run: ChaosRun) -> None:
    """Query the private database, S3 and the receiver; append every broken invariant to the report."""
    report, failures = run.report, run.report.failures
    with psycopg.connect(run.postgres.url, autocommit=True) as conn:
        # 1. Every accepted job ended; none has two sets of outputs.
        report.by_status = dict(_rows(conn, "SELECT status, count(*) FROM jobs GROUP BY status"))
        studios: dict[str, dict[str, int]] = defaultdict(dict)
        for studio, status, count in _rows(conn, "SELECT studio, status, count(*) FROM jobs GROUP BY 1, 2"):
            studios[studio][status] = count
        report.by_studio = dict(studios)
        report.failed_by_error = {
            (studio, str(title)): count
            for studio, title, count in _rows(
                conn,
                "SELECT studio, error->>'title', count(*) FROM jobs WHERE status = 'failed' GROUP BY 1, 2",
            )
        }
        stuck = _rows(
            conn,
            "SELECT id, studio, status, attempts FROM jobs WHERE status NOT IN ('succeeded', 'failed', 'canceled') ORDER BY created_at",
        )
        if stuck:
            failures.append(f"{len(stuck)} job(s) never ended (id, studio, status, attempts): {stuck[:20]}")
        known = {row[0] for row in _rows(conn, "SELECT id FROM jobs")}
        missing = [job_id for job_id in report.accepted if job_id not in known]
        if missing:
            failures.append(f"{len(missing)} accepted job(s) have no row: {missing[:20]}")
        twice = _rows(conn, "SELECT job_id, name, count(*) FROM assets GROUP BY 1, 2 HAVING count(*) > 1")
        if twice:
            failures.append(f"outputs written twice (job, name, rows): {twice[:20]}")
        asset_keys = {row[0] for row in _rows(conn, "SELECT key FROM assets")}

        # 2. Credits: the ledger sums to each account; nothing reserved, captured twice, or on a failure.
        drift = _rows(
            conn,
            """SELECT a.tenant_id, a.balance, a.reserved, coalesce(sum(l.balance_delta), 0),
                      coalesce(sum(l.reserved_delta), 0)
                 FROM credit_accounts a LEFT JOIN credit_ledger l ON l.tenant_id = a.tenant_id
                GROUP BY a.tenant_id, a.balance, a.reserved
               HAVING a.balance <> coalesce(sum(l.balance_delta), 0)
                   OR a.reserved <> coalesce(sum(l.reserved_delta), 0)""",
        )
        if drift:
            failures.append(
                f"account != ledger (tenant, balance, reserved, ledger balance, ledger reserved): {drift}"
            )
        held = _rows(
            conn,
            "SELECT tenant_id, reserved, active_jobs FROM credit_accounts WHERE reserved <> 0 OR active_jobs <> 0",
        )
        if held:
            failures.append(
                f"accounts still holding credits or active jobs (tenant, reserved, active_jobs): {held}"
            )
        left = _rows(
            conn,
            "SELECT job_id, sum(reserved_delta) FROM credit_ledger WHERE job_id IS NOT NULL GROUP BY job_id HAVING sum(reserved_delta) <> 0",
        )
        if left:
            failures.append(f"{len(left)} job(s) left credits reserved (job, reserved): {left[:20]}")
        over = _rows(
            conn,
            """SELECT job_id, sum(CASE WHEN kind = 'reserve' THEN reserved_delta ELSE 0 END),
                      -sum(CASE WHEN kind = 'capture' THEN balance_delta ELSE 0 END),
                      count(*) FILTER (WHERE kind = 'capture')
                 FROM credit_ledger WHERE job_id IS NOT NULL GROUP BY job_id
               HAVING -sum(CASE WHEN kind = 'capture' THEN balance_delta ELSE 0 END)
                      > sum(CASE WHEN kind = 'reserve' THEN reserved_delta ELSE 0 END)""",
        )
        if over:
            failures.append(
                f"job(s) captured more than they reserved (job, reserved, captured, rows): {over[:20]}"
            )
        charged_failures = _rows(
            conn,
            """SELECT j.id, j.status, sum(l.balance_delta) FROM jobs j JOIN credit_ledger l ON l.job_id = j.id
                WHERE j.status IN ('failed', 'canceled') AND l.kind = 'capture' GROUP BY j.id, j.status""",
        )
        if charged_failures:
            failures.append(
                f"failed/canceled job(s) captured credits (job, status, delta): {charged_failures[:20]}"
            )

        # 3. Webhooks: every event delivered or recorded failed, one webhook-id per event.
        report.deliveries = dict(
            _rows(conn, "SELECT status, count(*) FROM webhook_deliveries GROUP BY status")
        )
        pending = _rows(
            conn, "SELECT id, job_id, event_type FROM webhook_deliveries WHERE status = 'pending'"
        )
        if pending:
            failures.append(f"{len(pending)} webhook deliveries still pending: {pending[:20]}")
        undelivered = _rows(
            conn,
            """SELECT j.id, j.status FROM jobs j JOIN job_webhooks w ON w.job_id = j.id
                WHERE j.status IN ('succeeded', 'failed', 'canceled')
                  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                   WHERE d.job_id = j.id AND d.event_type = 'job.' || j.status)""",
        )
        if undelivered:
            failures.append(
                f"{len(undelivered)} ended job(s) with a webhook have no delivery of their end: {undelivered[:20]}"
            )
        delivered = {
            row[0] for row in _rows(conn, "SELECT id FROM webhook_deliveries WHERE status = 'succeeded'")
        }

        # 4. The outbox is empty (every row published).
        outbox = _rows(conn, "SELECT count(*) FILTER (WHERE published_at IS NULL), count(*) FROM outbox")[0]
        if outbox[0]:
            failures.append(f"outbox holds {outbox[0]} unpublished row(s) of {outbox[1]}")

    requests = [r for r in list(run.receiver.requests) if r.body]
    report.receiver_requests = len(requests)
    report.receiver_500s = sum(1 for r in requests if r.answered == 500)
    ids_per_event: dict[tuple[str, str], set[str]] = defaultdict(set)
    answered_ok: set[str] = set()
    for request in requests:
        payload = request.json
        ids_per_event[(payload["type"], payload["data"]["id"])].add(request.headers["webhook-id"])
        if 200 <= request.answered < 300:
            answered_ok.add(request.headers["webhook-id"])
    split = {event: ids for event, ids in ids_per_event.items() if len(ids) > 1}
    if split:
        failures.append(
            f"{len(split)} event(s) reached the receiver under two webhook-ids: {list(split.items())[:10]}"
        )
    unseen = delivered - answered_ok
    if unseen:
        failures.append(
            f"{len(unseen)} delivery(ies) recorded succeeded that the receiver never answered 2xx: {sorted(unseen)[:10]}"
        )

    # 1b. No second set of outputs in S3: every output object is the key of one asset row.
    from minio import Minio

    client = Minio(
        f"127.0.0.1:{run.s3.port}",
        access_key="testing",
        secret_key="testing",
        secure=False,
        region="us-east-1",
    )
    objects = [o.object_name for o in client.list_objects(run.bucket, prefix="tenants/", recursive=True)]
    # A job that wrote outputs then failed may leave objects and no rows; a job WITH rows must
    # have no output object besides them (a redelivery rewrites the same keys).
    with_assets = {key.split("/outputs/")[0] for key in asset_keys}
    strays = [
        name
        for name in objects
        if "/outputs/" in name and name.split("/outputs/")[0] in with_assets and name not in asset_keys
    ]
    if strays:
        failures.append(f"{len(strays)} output object(s) beside a job's assets (a second set): {strays[:10]}")
