"""Real-service fixtures: a fresh PostgreSQL database, a RabbitMQ vhost and an S3 bucket per session,
and helpers that run the real ``imagestudio`` processes against them."""

from __future__ import annotations

import functools
import io
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pika
import psycopg
import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from support import (
    REDIS_URL,
    ROOT,
    S3_PORT,
    STARTUP_SECONDS,
    Embedded,
    ensure_services,
    free_port,
    in_process_stack,
    wait_for,
)

from imagestudio.db import sqlalchemy_url
from imagestudio.tenants.service import tenant_service
from simulators import run_in_thread
from simulators.server import RunningSimulator

VENV_BIN = Path(sys.executable).parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _rabbitmqctl(*args: str) -> None:
    result = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {result.stderr or result.stdout}")


@dataclass
class Services:
    database_url: str
    broker_url: str
    bucket: str
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    ensure_services()
    suffix = uuid.uuid4().hex[:8]
    db_name, vhost, bucket = (
        f"imagestudio_it_{suffix}",
        f"imagestudio-it-{suffix}",
        f"imagestudio-it-{suffix}",
    )
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    # A vhost of our own: queues named like production's, isolated from anything else on the broker.
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    data_dir = tmp_path_factory.mktemp("distributed")
    svc = Services(
        database_url=f"postgresql://postgres@127.0.0.1:5432/{db_name}",
        broker_url=f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        bucket=bucket,
    )
    svc.env = {
        "IMAGESTUDIO_SECRET_KEY": "integration-secret-key-0123456789abcdef",
        "IMAGESTUDIO_ENVIRONMENT": "test",
        "IMAGESTUDIO_DATA_DIR": str(data_dir),
        "IMAGESTUDIO_DATABASE_URL": svc.database_url,
        "IMAGESTUDIO_BROKER_URL": svc.broker_url,
        "IMAGESTUDIO_STORAGE_BACKEND": "s3",
        "IMAGESTUDIO_S3_ENDPOINT": f"127.0.0.1:{S3_PORT}",
        "IMAGESTUDIO_S3_ACCESS_KEY": "testing",
        "IMAGESTUDIO_S3_SECRET_KEY": "testing",
        "IMAGESTUDIO_S3_BUCKET": bucket,
        "IMAGESTUDIO_S3_SECURE": "false",
        "IMAGESTUDIO_JOB_MIN_BACKOFF_SECONDS": "0.2",
        "IMAGESTUDIO_RATE_LIMIT_STORAGE_URL": REDIS_URL,
        "IMAGESTUDIO_RATE_LIMIT_KEY_PREFIX": f"imagestudio-it-{suffix}",
    }
    try:
        yield svc
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, timeout=60)


class Process:
    """A real ``imagestudio`` process with its output kept for failure messages."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        log: Path,
        *,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.log = log
        self._fh = log.open("wb")
        full_env = {**os.environ, **env, "NO_COLOR": "1", "COLUMNS": "200"}
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "imagestudio"), *args],
            env=full_env,
            cwd=ROOT,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._fh.close()


@dataclass
class Stack:
    base_url: str
    key: str
    services: Services
    tmp: Path
    processes: list[Process] = field(default_factory=list)

    def worker(self, studio: str = "social", **extra_env: str) -> Process:
        proc = Process(
            ["worker", studio],
            {**self.services.env, **extra_env},
            self.tmp / f"worker-{len(self.processes)}.log",
        )
        self.processes.append(proc)
        return proc

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def wait_for_durable_queue(self, queue: str) -> None:
        """Wait until RabbitMQ holds ``queue``, durable, and its dead-letter queue ``<queue>.XQ``."""
        params = pika.URLParameters(self.services.broker_url)

        def declared() -> bool:
            with pika.BlockingConnection(params) as conn:
                channel = conn.channel()
                try:
                    channel.queue_declare(f"{queue}.XQ", passive=True)
                    channel.queue_declare(queue, passive=True, durable=True)
                    return True
                except pika.exceptions.ChannelClosedByBroker:
                    return False

        wait_for(declared, timeout=30, interval=0.5, what=f"the {queue} queue and its dead-letter queue")


def tiny_png(color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A 16 x 16 PNG: the cheapest image a job can take."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(out, "PNG")
    return out.getvalue()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def job_of(stack: Stack, key: str, job_id: str) -> dict[str, object]:
    """``GET /jobs/{id}`` through the stack's gateway (200 asserted)."""
    response = httpx.get(f"{stack.base_url}/api/image-studio/jobs/{job_id}", headers=auth(key), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def moment(value: object) -> datetime:
    assert isinstance(value, str)
    return datetime.fromisoformat(value)


def start_gateway(env: dict[str, str], log: Path) -> tuple[Process, str]:
    """A gateway process on a free port, returned once its health route answers, with its base URL.

    The process is stopped when it never gets ready, so a failed start leaves nothing running.
    """
    port = free_port()
    gateway = Process(["up", "--port", str(port)], env, log)
    base_url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if gateway.proc.poll() is not None:
            raise AssertionError("gateway exited:\n" + gateway.output())
        try:
            return httpx.get(f"{base_url}/api/image-studio/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=STARTUP_SECONDS, interval=0.2, what="the gateway to be ready")
    except BaseException:
        gateway.stop()
        raise
    return gateway, base_url


def serve_simulators(sims: Mapping[str, Any]) -> tuple[dict[str, RunningSimulator], dict[str, str]]:
    """Each provider simulator served on loopback in this process, and the settings pointing at them."""
    running = {name: run_in_thread(sim.app) for name, sim in sims.items()}
    provider_env = {}
    for name, sim in sims.items():
        provider_env[f"IMAGESTUDIO_{name.upper()}_API_KEY"] = sim.api_key
        provider_env[f"IMAGESTUDIO_{name.upper()}_BASE_URL"] = running[name].base_url
    return running, provider_env


@contextmanager
def simulated_gateway(
    sims: Mapping[str, Any], env: dict[str, str], extra_env: dict[str, str], log: Path
) -> Iterator[tuple[str, dict[str, str]]]:
    """``sims`` served here on loopback and a gateway process pointed at them, stopped on the way out.

    Yields the gateway's base URL and its environment (``env``, the simulators' settings, then
    ``extra_env``), for the workers to start with.
    """
    running, provider_env = serve_simulators(sims)
    full_env = {**env, **provider_env, **extra_env}
    try:
        gateway, base_url = start_gateway(full_env, log)
        try:
            yield base_url, full_env
        finally:
            gateway.stop()
    finally:
        for handle in running.values():
            handle.stop()


def reset_simulators(sims: Mapping[str, Any], database_url: str) -> None:
    """No scripted faults, empty call logs and every circuit closed, for the next test."""
    for sim in sims.values():
        sim.faults.clear()
        sim.calls.clear()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM provider_health")


def create_key(env: dict[str, str], tenant: str, tier: str = "pro") -> str:
    """A new tenant of ``tier`` and its API key, written to ``env``'s database as `imagestudio keys
    create --tenant` writes them (the same service calls), from this process: a CLI process per
    key spent ~4 s of CPU importing the package, once for each of ~50 keys in the suite."""
    with Session(_admin_engine(env["IMAGESTUDIO_DATABASE_URL"])) as session, session.begin():
        tenant_id = tenant_service.create_tenant(session, name=tenant, tier=tier).id
        return tenant_service.create_key(session, tenant_id=tenant_id).key


@functools.cache
def _admin_engine(database_url: str) -> Engine:
    """One small engine per database for ``create_key`` (no connection held between keys)."""
    return create_engine(sqlalchemy_url(database_url), poolclass=NullPool)


@pytest.fixture
def stack(services: Services, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The gateway (with its outbox relay) as a real process on RabbitMQ, PostgreSQL and S3.

    ``@pytest.mark.gateway_env(IMAGESTUDIO_X="...")`` adds settings to the gateway's environment.
    """
    marker = request.node.get_closest_marker("gateway_env")
    env = {**services.env, **(marker.kwargs if marker else {})}
    gateway, base_url = start_gateway(env, tmp_path / "gateway.log")
    s = Stack(
        base_url=base_url,
        key=create_key(services.env, f"it-{uuid.uuid4().hex[:6]}"),
        services=services,
        tmp=tmp_path,
    )
    s.processes.append(gateway)
    try:
        yield s
    finally:
        for proc in reversed(s.processes):
            proc.stop()


@pytest.fixture
def pg_stack_env() -> dict[str, str]:
    """Settings a test module adds to ``pg_stack``'s (override it in the module)."""
    return {}


@pytest.fixture
def pg_stack(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_stack_env: dict[str, str]
) -> Iterator[Embedded]:
    """The gateway in-process on the real PostgreSQL database and S3 bucket (broker in-process)."""
    env = {
        k: v for k, v in services.env.items() if k != "IMAGESTUDIO_BROKER_URL" and k != "IMAGESTUDIO_DATA_DIR"
    }
    yield from in_process_stack(tmp_path, monkeypatch, **{**env, **pg_stack_env})
