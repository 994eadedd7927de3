"""Bench helpers: a private PostgreSQL database, RabbitMQ vhost and S3 bucket, and processes on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
S3_PORT = int(os.environ.get("IMAGESTUDIO_TEST_S3_PORT", "9310"))


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
        deadline = time.monotonic() + 60
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
