"""Bench helpers: a private PostgreSQL database, RabbitMQ vhost and S3 bucket, and processes on loopback."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
S3_PORT = int(os.environ.get("IMAGESTUDIO_TEST_S3_PORT", "9310"))


@dataclass(frozen=True)
class ProcStat:
    """What ``/proc/<pid>/stat`` says of a process: its command name, its parent, its CPU time."""

    comm: str
    ppid: int
    cpu_seconds: float  # user + system, all its threads


def proc_stat(pid: int | str) -> ProcStat:
    """``/proc/<pid>/stat`` read once (OSError when the process is gone)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    head, _, tail = stat.rpartition(")")
    fields = tail.split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return ProcStat(head.partition("(")[2], int(fields[1]), (utime + stime) / os.sysconf("SC_CLK_TCK"))


def processes() -> dict[str, ProcStat]:
    """Every process now, by pid."""
    found = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                found[pid] = proc_stat(pid)
            except OSError:  # gone meanwhile
                continue
    return found


def children(parent: int) -> set[str]:
    """The pids of ``parent``'s child processes (the gateway's outbox relay under ``imagestudio up``)."""
    return {pid for pid, stat in processes().items() if stat.ppid == parent}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def distributed_env() -> Iterator[dict[str, str]]:
    subprocess.run(["bash", str(ROOT / "scripts/services.sh")], check=True, capture_output=True)
    suffix = uuid.uuid4().hex[:8]
    db, vhost = f"imagestudio_bench_{suffix}", f"imagestudio-bench-{suffix}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    subprocess.run(["rabbitmqctl", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    try:
        yield {
            "IMAGESTUDIO_SECRET_KEY": "bench-secret-key-0123456789abcdef0123",
            "IMAGESTUDIO_DATA_DIR": str(ROOT / ".imagestudio" / f"bench-{suffix}"),
            "IMAGESTUDIO_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{db}",
            "IMAGESTUDIO_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
            "IMAGESTUDIO_STORAGE_BACKEND": "s3",
            "IMAGESTUDIO_S3_ENDPOINT": f"127.0.0.1:{S3_PORT}",
            "IMAGESTUDIO_S3_ACCESS_KEY": "testing",
            "IMAGESTUDIO_S3_SECRET_KEY": "testing",
            "IMAGESTUDIO_S3_BUCKET": f"bench-{suffix}",
            "IMAGESTUDIO_S3_SECURE": "false",
            "IMAGESTUDIO_RATE_LIMIT_STORAGE_URL": "redis://127.0.0.1:6379/0",
            "IMAGESTUDIO_RATE_LIMIT_KEY_PREFIX": f"imagestudio-bench-{suffix}",
        }
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True)


@contextmanager
def process(args: list[str], env: dict[str, str], ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        args, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 180  # a shared machine at load 20+ starts a gateway slowly
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{args} exited with {proc.returncode}")
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{args} did not become ready")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


#: ASGI server setups compared by the benchmarks: name -> (server, worker processes).
SERVERS: dict[str, tuple[str, int]] = {
    "uvicorn-1": ("uvicorn", 1),
    "uvicorn-2": ("uvicorn", 2),
    "granian-1": ("granian", 1),
    "granian-2": ("granian", 2),
}


def server_command(
    server: str, workers: int, target: str, port: int, *, factory: bool, app_dir: Path
) -> list[str]:
    """The command line serving ``target`` on loopback with the given ASGI server and process count."""
    if server == "uvicorn":
        args = [str(BIN / "uvicorn"), "--log-level", "warning", "--no-access-log", "--app-dir", str(app_dir)]
        args += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        return [*args, *(["--factory"] if factory else []), target]
    args = [str(BIN / "granian"), "--interface", "asgi", "--log-level", "warning", "--no-ws"]
    args += [
        "--working-dir",
        str(app_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    return [*args, *(["--factory"] if factory else []), target]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``imagestudio ARGS`` against the bench environment."""
    return subprocess.run(
        [str(BIN / "imagestudio"), *args],
        env={**os.environ, **env, "NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def create_tenant_key(env: dict[str, str], name: str, tier: str = "enterprise") -> tuple[str, str]:
    """A new tenant on ``tier`` and an API key for it: (tenant id, key)."""
    out = cli(env, "keys", "create", "--tenant", name, "--tier", tier).stdout
    tenant = re.search(r"tenant:\s*(\S+)", out)
    key = re.search(r"(isk_[A-Za-z0-9_-]+)", out)
    assert tenant and key, out
    return tenant.group(1), key.group(1)


def raise_limits(
    env: dict[str, str], tenant_id: str, *, rpm: int = 1_000_000, concurrent: int = 1_000_000
) -> str | None:
    """Raise a tenant's own limits so the figures measure the gateway; a note when the command is missing."""
    done = cli(
        env,
        "tenants",
        "set-limits",
        tenant_id,
        "--requests-per-minute",
        str(rpm),
        "--max-concurrent-jobs",
        str(concurrent),
    )
    if done.returncode == 0:
        return None
    return "`imagestudio tenants set-limits` unavailable: tenants kept their tier's limits"


def retire_queued_jobs(env: dict[str, str]) -> int:
    """Mark the bench database's queued jobs canceled, so the next run starts under the concurrency limit.

    Only the bench's private, throw-away database is touched.
    """
    with psycopg.connect(env["IMAGESTUDIO_DATABASE_URL"], autocommit=True) as conn:
        cur = conn.execute("UPDATE jobs SET status = 'canceled' WHERE status IN ('queued', 'running')")
        return cur.rowcount


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
