"""Private PostgreSQL, RabbitMQ and S3 (moto) servers on free loopback ports, each restartable.

The machine's own PostgreSQL (5432) and RabbitMQ (5672) serve every other test and helper, so the
chaos suite never touches them: it starts its own instances in a temporary directory and restarts
those. Each class starts its server in ``__init__``-free ``start()``, waits on the port (state,
not a sleep) and offers ``restart()``, which returns the seconds the service was unreachable.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from support import free_port, port_open

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
VENV_BIN = Path(sys.executable).parent


def outage(*steps: Callable[[], object]) -> float:
    """Run ``steps`` in turn (a restart's stop and start); the seconds they took, the outage."""
    began = time.monotonic()
    for step in steps:
        step()
    return time.monotonic() - began


class ServiceError(RuntimeError):
    """Raised when a private service cannot be started or stopped."""


def wait_port(port: int, *, up: bool, timeout: float, what: str) -> None:
    """Wait until 127.0.0.1:``port`` accepts (``up``) or refuses connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port) == up:
            return
        time.sleep(0.1)
    raise ServiceError(f"{what} did not {'come up' if up else 'go down'} on 127.0.0.1:{port} in {timeout}s")


def _run(args: list[str], *, timeout: float = 120, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        raise ServiceError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr or result.stdout}")
    return result.stdout


class PrivatePostgres:
    """A PostgreSQL 15 cluster of its own, run as the ``postgres`` OS user (initdb refuses root)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        # Its own directory under /tmp: the postgres user cannot enter root's 0700 temporary dirs.
        self.root = Path(tempfile.mkdtemp(prefix="imagestudio-chaos-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/imagestudio"

    def _as_postgres(self, *args: str, timeout: float = 120) -> str:
        user = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        return _run([*user, *args], timeout=timeout)

    def start(self) -> None:
        if not self.data.exists():
            if os.geteuid() == 0:
                shutil.chown(self.root, "postgres")
            self._as_postgres(
                str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
            )
            self._pg_ctl("start")
            self._as_postgres(
                str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "imagestudio"
            )
        else:
            self._pg_ctl("start")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        # fsync off: a killed server process keeps the OS page cache, so no commit is lost; a
        # machine crash is not part of this suite.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
        )
        self._as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            *extra,
            "-o",
            options,
            action,
        )

    def restart(self) -> float:
        """``pg_ctl restart -m fast``: every session is cut, in-flight transactions roll back."""
        return outage(
            lambda: self._pg_ctl("restart", "-m", "fast"),
            lambda: wait_port(self.port, up=True, timeout=60, what="PostgreSQL"),
        )

    def stop(self) -> None:
        if self.data.exists():
            try:
                self._pg_ctl("stop", "-m", "immediate")
            except ServiceError:
                pass
        if (self.root / "log").exists():
            shutil.copy2(self.root / "log", self.logs / "postgres.log")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRabbit:
    """A second RabbitMQ node (own node name, ports, data and config; no plugins), run as root."""

    def __init__(self, root: Path) -> None:
        self.root = root / "rabbitmq"
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"chaos-{uuid.uuid4().hex[:8]}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"
        self._proc: subprocess.Popen[bytes] | None = None

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            # HOME holds this node's Erlang cookie, so rabbitmqctl here reaches this node only.
            "HOME": str(self.root),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            # Not the machine node's /etc/rabbitmq/rabbitmq-env.conf (its NODENAME and port).
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        with (self.root / "server.log").open("ab") as log:
            self._proc = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_port(self.port, up=True, timeout=120, what="RabbitMQ")

    def _stop(self) -> None:
        # SIGTERM is RabbitMQ's graceful stop (as `rabbitmqctl stop`, without an Erlang CLI that
        # takes tens of seconds to boot on a busy machine); SIGKILL if it hangs.
        assert self._proc is not None
        os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(10)
        wait_port(self.port, up=False, timeout=30, what="RabbitMQ")

    def restart(self) -> float:
        """Stop the node (every connection dropped) and start it on the same data: durable queues stay."""
        return outage(self._stop, self.start)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._stop()


class MotoS3:
    """moto's S3 server on a port of its own. moto keeps objects in memory, so a restart loses them."""

    def __init__(self, root: Path, bucket: str) -> None:
        self.root = root / "moto"
        self.port = free_port()
        self.bucket = bucket
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "moto.log").open("ab") as log:
            self._proc = subprocess.Popen(
                [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_port(self.port, up=True, timeout=60, what="moto S3")
        self._make_bucket()

    def _make_bucket(self) -> None:
        # A real object store keeps its bucket across a restart; moto forgets it, so the harness
        # puts it back at once (the objects written before the restart stay lost: a harsher fault).
        from minio import Minio

        client = Minio(
            f"127.0.0.1:{self.port}",
            access_key="testing",
            secret_key="testing",
            secure=False,
            region="us-east-1",
        )
        if not client.bucket_exists(self.bucket):
            client.make_bucket(self.bucket)

    def restart(self) -> float:
        """Kill the server and start it again: the bucket is put back, the objects are lost."""
        return outage(self.stop, self.start)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(10)
            wait_port(self.port, up=False, timeout=30, what="moto S3")
