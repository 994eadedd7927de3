"""Helpers shared by every test: isolated settings, the embedded stack, waiting on state.

Services a test needs are started when down (scripts/services.sh) and the test FAILS, never
skips, when one cannot be had.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dramatiq
import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from PIL import Image

if TYPE_CHECKING:
    from simulators.server import Simulator

ROOT = Path(__file__).resolve().parent.parent
S3_PORT = int(os.environ.get("IMAGESTUDIO_TEST_S3_PORT", "9310"))
REDIS_PORT = 6379
#: The distributed tests' rate-limit store; each session gets its own key prefix on it.
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"

#: Settings that let webhooks and image URLs reach loopback, where a test's receivers and image
#: servers listen (``imagestudio up`` refuses private addresses otherwise).
LOOPBACK_TARGETS = {
    "IMAGESTUDIO_WEBHOOK_ALLOW_LOOPBACK": "true",
    "IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK": "true",
}

# Settings every test starts from; a test changes them with monkeypatch.setenv + reload_settings().
BASE_ENV = {
    "IMAGESTUDIO_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
    "IMAGESTUDIO_ENVIRONMENT": "test",
    "IMAGESTUDIO_JOB_MIN_BACKOFF_SECONDS": "0.05",
}
for _k, _v in BASE_ENV.items():
    os.environ.setdefault(_k, _v)


def reload_settings() -> None:
    """Drop every process-wide object built from settings."""
    from imagestudio.config import get_settings
    from imagestudio.db import reset_engine
    from imagestudio.ratelimits.service import reset_rate_limiter
    from imagestudio.request_cache import clear_request_caches
    from imagestudio.storage import reset_store

    get_settings.cache_clear()
    reset_engine()
    reset_store()
    reset_rate_limiter()
    clear_request_caches()


def use_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """These settings for the rest of the test: the environment set and the settings object rebuilt.

    Only settings are dropped; the engine, store and rate limiter built before stay (compare
    ``reload_settings``).
    """
    from imagestudio.config import get_settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


#: How long a started server (`imagestudio up`, a gateway process) may take to answer.
STARTUP_SECONDS = 180


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_services() -> None:
    """Start RabbitMQ, PostgreSQL, Redis and the S3 server when down; fail the test when impossible."""
    wanted = (("RabbitMQ", 5672), ("PostgreSQL", 5432), ("S3", S3_PORT), ("Redis", REDIS_PORT))
    if all(port_open(port) for _, port in wanted):
        return
    result = subprocess.run(["bash", str(ROOT / "scripts/services.sh")], capture_output=True, text=True)
    missing = [name for name, port in wanted if not port_open(port)]
    if missing:
        pytest.fail(f"required services are down and could not be started: {missing}\n{result.stderr}")


#: PostgreSQL's maintenance database, where test databases are created and dropped.
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database of the test's own, dropped after it."""
    ensure_services()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"
) -> Any:
    """Poll state until it holds (tests wait on state, never on fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


IMAGESTUDIO = str(Path(sys.executable).parent / "imagestudio")


def imagestudio_cli(*args: str, data_dir: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """The ``imagestudio`` command as an operator runs it on ``data_dir``; output captured as text."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IMAGESTUDIO_")},
        "IMAGESTUDIO_SECRET_KEY": "cli-secret-key-0123456789abcdef0123",
        "IMAGESTUDIO_DATA_DIR": str(data_dir),
        "NO_COLOR": "1",
        "COLUMNS": "200",
        **extra_env,
    }
    return subprocess.run([IMAGESTUDIO, *args], env=env, capture_output=True, text=True, timeout=120)


@contextmanager
def imagestudio_up(cwd: Path, *, data_dir: Path, **extra_env: str) -> Iterator[tuple[str, dict[str, str]]]:
    """`imagestudio up` as a newcomer runs it, in ``cwd`` on a free port; yields (base URL, its env).

    The log is ``cwd / "up.log"``; the process is stopped with SIGTERM on exit.
    """
    import httpx

    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IMAGESTUDIO_")},
        "IMAGESTUDIO_SECRET_KEY": "e2e-secret-key-0123456789abcdef0123",
        "IMAGESTUDIO_DATA_DIR": str(data_dir),
        "NO_COLOR": "1",
        **extra_env,
    }
    base = f"http://127.0.0.1:{port}"
    with (cwd / "up.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "imagestudio"), "up", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def ready() -> bool:
                assert proc.poll() is None, (cwd / "up.log").read_text()
                try:
                    return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            # Generous: seven sessions share two cores here, and a start then took over a minute.
            wait_for(ready, timeout=STARTUP_SECONDS, interval=0.2, what="imagestudio up to serve")
            yield base, env
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def make_image(width: int = 800, height: int = 600, fmt: str = "PNG", **save: Any) -> bytes:
    """A test image with structure (gradient plus a bright square), encoded as ``fmt``."""
    img = Image.new("RGB", (width, height))
    px = img.load()
    assert px is not None
    for x in range(0, width, 4):
        for y in range(0, height, 4):
            colour = (x * 255 // width, y * 255 // height, 128)
            for dx in range(4):
                for dy in range(4):
                    if x + dx < width and y + dy < height:
                        px[x + dx, y + dy] = colour
    img.paste((255, 40, 40), (width // 10, height // 3, width // 10 + width // 8, height // 3 + width // 8))
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


# --- embedded stack (SQLite, local folder, in-process broker) ---------------------------------

_STUB_BROKER: dramatiq.Broker | None = None


def submit_social_job(
    tenant_id: str,
    *,
    cost: int = 0,
    side: int = 64,
    max_attempts: int | None = None,
    inputs: Mapping[str, str] | None = None,
) -> str:
    """A social job of one square format, submitted as the gateway does (uploads stored, message staged); its id.

    ``max_attempts`` is set in the submitting transaction, before any worker can see the job;
    ``inputs`` names stored objects to read instead of a new ``side``-pixel upload.
    """
    from imagestudio.db import session_scope
    from imagestudio.jobs.models import Job
    from imagestudio.jobs.service import Upload, job_service

    with session_scope() as session:
        job = job_service.submit(
            session,
            tenant_id=tenant_id,
            studio="social",
            params={"formats": ["instagram.feed_square"]},
            uploads=[] if inputs else [Upload("image", make_image(side, side), "png", "image/png")],
            inputs=inputs,
            cost=cost,
        )
        if max_attempts is not None:
            row = session.get(Job, job.id)
            assert row is not None
            row.max_attempts = max_attempts
        return job.id


def stub_broker() -> dramatiq.Broker:
    """One StubBroker for the whole session: Dramatiq binds actors to a broker once, at import."""
    global _STUB_BROKER
    if _STUB_BROKER is None:
        from imagestudio.broker import build_broker, use_broker
        from imagestudio.config import get_settings
        from imagestudio.jobs.middleware import FailJobWhenMessageDies

        os.environ["IMAGESTUDIO_BROKER_URL"] = "memory://"
        get_settings.cache_clear()
        _STUB_BROKER = build_broker(get_settings(), middleware=[FailJobWhenMessageDies()])
        use_broker(_STUB_BROKER)
        import imagestudio.webhooks.worker  # noqa: F401  (declares webhooks.deliver on it)
        import social_worker.main  # noqa: F401  (declares social.run_job on the stub broker)
    return _STUB_BROKER


class Embedded:
    """An embedded stack for one test: TestClient, broker, a tenant's key and helpers."""

    def __init__(self, client: TestClient, broker: dramatiq.Broker, data_dir: Path) -> None:
        self.client = client
        self.broker = broker
        self.data_dir = data_dir
        self.worker: dramatiq.Worker | None = None

    def new_key(self, name: str = "tenant", tier: str = "pro") -> str:
        from imagestudio.db import session_scope
        from imagestudio.tenants.service import tenant_service

        with session_scope() as session:
            tenant = tenant_service.create_tenant(session, name=name, tier=tier)
            return tenant_service.create_key(session, tenant_id=tenant.id).key

    def new_tenant(self, name: str = "tenant", tier: str = "pro") -> tuple[str, str]:
        """A new tenant: (its API key, its id)."""
        from imagestudio.db import session_scope
        from imagestudio.tenants.service import tenant_service

        key = self.new_key(name, tier)
        with session_scope() as session:
            return key, tenant_service.authenticate(session, key=key).tenant_id

    def start_worker(self, threads: int = 2) -> dramatiq.Worker:
        self.worker = dramatiq.Worker(self.broker, worker_threads=threads, worker_timeout=50)
        self.worker.start()
        return self.worker

    def drain(self, queue: str = "social") -> None:
        """Wait until the outbox is published and the queue is processed."""
        from sqlalchemy import func, select

        from imagestudio.db import session_scope
        from imagestudio.outbox import OutboxMessage

        def published() -> bool:
            with session_scope() as session:
                return not session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.published_at.is_(None))
                )

        wait_for(published, what="the outbox to be published")
        self.broker.join(queue, timeout=60_000)
        if self.worker is not None:
            # Not ``Worker.join``: it waits for every queue's delayed messages too, and a database
            # shared with earlier tests can hold a webhook retry backed off for minutes.
            consumers = [c for n, c in self.worker.consumers.items() if n in (queue, f"{queue}.DQ")]
            while True:
                for consumer in consumers:
                    consumer.delay_queue.join()
                self.worker.work_queue.join()
                if not any(c.delay_queue.unfinished_tasks for c in consumers):
                    if not self.worker.work_queue.unfinished_tasks:
                        return

    def wait_job(
        self,
        key: str,
        job_id: str,
        *,
        statuses: tuple[str, ...] = ("succeeded", "failed", "canceled"),
        timeout: float = 60,
    ) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            body = self.client.get(
                f"/api/image-studio/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}
            ).json()
            return body if body["status"] in statuses else None

        return wait_for(done, timeout=timeout, what=f"job {job_id} to reach {statuses}")  # type: ignore[no-any-return]


def post_social(
    stack: Embedded,
    key: str,
    image: tuple[str, bytes, str] | None = None,
    *,
    route: str = "optimize",
    prefer: str | None = None,
    **fields: Any,
) -> httpx.Response:
    """``POST /social/<route>`` as a form: ``fields`` its fields, ``image`` the file (a 64x48 PNG if not
    given), ``prefer`` a ``Prefer`` header (``wait=60``)."""
    return stack.client.post(
        f"/api/image-studio/social/{route}",
        headers={"Authorization": f"Bearer {key}", **({"Prefer": prefer} if prefer else {})},
        files={"image": image or ("a.png", make_image(64, 48), "image/png")},
        data=fields,
    )


def accepted_id(response: httpx.Response) -> str:
    """The id of the job a submission's answer accepted (it must be a 202)."""
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def every_simulator() -> dict[str, Simulator]:
    """A fresh simulator of each provider; WaveSpeed answers "in progress" once, so its polling runs."""
    from simulators import GeminiSimulator, HuggingFaceSimulator, StabilitySimulator, WaveSpeedSimulator

    return {
        "stability": StabilitySimulator(),
        "wavespeed": WaveSpeedSimulator(in_progress_polls=1),
        "huggingface": HuggingFaceSimulator(),
        "gemini": GeminiSimulator(),
    }


@contextmanager
def simulated_providers(embedded: Embedded, sims: Mapping[str, Any], *, threads: int = 2) -> Iterator[None]:
    """``sims`` answer the provider clients in this process (no sockets) while the embedded worker runs.

    On the way out the worker is stopped, the simulators are dropped from the provider directory
    and the provider executor is reset; settings are the caller's to reload.
    """
    from imagestudio.providers.directory import provider_directory
    from imagestudio.providers.execution import reset_provider_executor
    from simulators import InProcessTransport

    transports = {name: InProcessTransport(sim.app) for name, sim in sims.items()}
    if sims:
        provider_directory.use_simulators(
            {
                name: {
                    "api_key": sim.api_key,
                    "base_url": f"http://{name}.simulator",
                    "transport": transports[name],
                }
                for name, sim in sims.items()
            }
        )
    embedded.start_worker(threads=threads)
    try:
        yield
    finally:
        if embedded.worker is not None:
            embedded.worker.stop()
            embedded.worker = None
        provider_directory.clear_simulators()
        reset_provider_executor()
        for transport in transports.values():
            transport.close()


@contextmanager
def sql_statements(*, this_thread_only: bool = False) -> Iterator[list[str]]:
    """Every SQL statement the process sends while the block runs, as sent.

    ``this_thread_only`` leaves out what other threads send (the outbox relay, a worker); the
    gateway under a ``TestClient`` answers on another thread, so a test of a request counts all.
    """
    import threading

    from sqlalchemy import event

    from imagestudio.db import get_engine

    seen: list[str] = []
    me = threading.get_ident()

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if not this_thread_only or threading.get_ident() == me:
            seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def fresh_queues(broker: dramatiq.Broker) -> None:
    """Empty every queue of the session's StubBroker, messages a stopped worker still held included.

    ``flush_all`` drops queued messages only: one a stopped worker had taken (a retry waiting out
    its delay, say) stays counted as unfinished in its ``queue.Queue`` for ever, and a later test's
    ``join`` on that queue would wait for it. Consumers read ``broker.queues`` when a worker starts.
    """
    from queue import Queue

    broker.flush_all()
    queues: dict[str, Queue[Any]] = broker.queues  # type: ignore[attr-defined]
    for name, queue in list(queues.items()):
        queues[name] = type(queue)()  # the same kind: a studio queue keeps its priority order


def in_process_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[Embedded]:
    """Gateway (TestClient) plus the in-process broker; ``env`` swaps in PostgreSQL or S3."""
    from imagestudio.broker import use_broker
    from imagestudio.migrate import upgrade

    broker = stub_broker()
    monkeypatch.setenv("IMAGESTUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("IMAGESTUDIO_BROKER_URL", "memory://")
    monkeypatch.setenv("IMAGESTUDIO_STORAGE_BACKEND", "local")
    monkeypatch.setenv("IMAGESTUDIO_OUTBOX_POLL_SECONDS", "0.05")
    monkeypatch.setenv("IMAGESTUDIO_PUBLIC_URL", "http://testserver")
    monkeypatch.delenv("IMAGESTUDIO_DATABASE_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reload_settings()
    use_broker(broker)
    fresh_queues(broker)
    upgrade()
    from gateway.app import create_app

    with TestClient(create_app()) as client:
        stack = Embedded(client, broker, tmp_path / "data")
        try:
            yield stack
        finally:
            if stack.worker is not None:
                stack.worker.stop()
    fresh_queues(broker)
    reload_settings()
