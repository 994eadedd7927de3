"""The images of `make images` run as containers, configured from docker-compose.yml.

Each service's image, command, environment, read-only root, tmpfs, capabilities and healthcheck
come from ``podman-compose config`` (the compose file resolved by a compose implementation). What
differs on this machine is said once, in ``Placement``: the addresses of PostgreSQL, RabbitMQ,
Redis and S3 (this test's private database, vhost, key prefix and bucket on the machine's
servers), one port per container on the shared host network, and the tests' short timings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PODMAN = str(ROOT / "scripts/podman.sh")
#: Variables the compose file takes from the host (.env); the test's own values.
COMPOSE_VARIABLES = {
    "IMAGESTUDIO_SECRET_KEY": "stack-test-secret-key-0123456789abcdef0123456789",
    "IMAGESTUDIO_SECRETS_KEYS": "c3RhY2stdGVzdC1mZXJuZXQta2V5LTAxMjM0NTY3ODk=",
}


def engine() -> list[str]:
    """docker when a Docker engine answers, else podman with this machine's flags."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker"]
    return [PODMAN]


def compose_config(variables: Mapping[str, str] = COMPOSE_VARIABLES) -> dict[str, Any]:
    """docker-compose.yml as podman-compose resolves it (anchors merged, variables substituted)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGESTUDIO_")} | dict(variables)
    env["CONTAINERS_CONF"] = str(ROOT / "deploy/podman/containers.conf")
    compose = str(Path(sys.executable).parent / "podman-compose")  # the locked release (requirements/dev.txt)
    result = subprocess.run(
        # Only the given variables: the developer's .env is not read.
        [compose, "--env-file", os.devnull, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(f"podman-compose config failed:\n{result.stderr}")
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


@dataclass
class Placement:
    """Where this machine's stack differs from compose's: addresses, ports, timings (each named)."""

    database_url: str
    broker_url: str
    s3_endpoint: str
    bucket: str
    redis_url: str
    key_prefix: str
    #: Test-only settings added to every container (short leases and backoffs, loopback webhooks...).
    extra: dict[str, str] = field(default_factory=dict)

    def addresses(self) -> dict[str, str]:
        """The settings whose compose values name compose's own hosts (postgres, rabbitmq, minio...)."""
        return {
            "IMAGESTUDIO_DATABASE_URL": self.database_url,
            "IMAGESTUDIO_BROKER_URL": self.broker_url,
            "IMAGESTUDIO_S3_ENDPOINT": self.s3_endpoint,
            "IMAGESTUDIO_S3_ACCESS_KEY": "testing",
            "IMAGESTUDIO_S3_SECRET_KEY": "testing",
            "IMAGESTUDIO_S3_BUCKET": self.bucket,
            "IMAGESTUDIO_RATE_LIMIT_STORAGE_URL": self.redis_url,
            "IMAGESTUDIO_RATE_LIMIT_KEY_PREFIX": self.key_prefix,
            # No collector here: traces are still made, printed nowhere.
            "IMAGESTUDIO_TRACES_EXPORTER": "none",
        }

    def environment(self, service: Mapping[str, Any], **ports: str) -> dict[str, str]:
        """A compose service's environment with this machine's addresses, ports and timings."""
        env = {k: "" if v is None else str(v) for k, v in service.get("environment", {}).items()}
        return env | self.addresses() | self.extra | ports


class Container:
    """One container started from a compose service's definition; removed by ``remove``."""

    def __init__(self, name: str, service: Mapping[str, Any], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.service = service
        self.env = dict(env)
        self.log = log_dir / f"{name}.log"
        self.engine = engine()

    def run_args(self, *, detach: bool) -> list[str]:
        s = self.service
        args = [*self.engine, "run", "--name", self.name, "--network", "host"]
        args += ["-d"] if detach else ["--rm"]
        if self.engine == [PODMAN]:
            # Higher rlimits than these are refused on this kind of machine (environment notes).
            args += ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
        if s.get("read_only"):
            args.append("--read-only")
        for path in s.get("tmpfs", []):
            args += ["--tmpfs", path]
        for opt in s.get("security_opt", []):
            args += ["--security-opt", opt]
        for cap in s.get("cap_drop", []):
            args += ["--cap-drop", cap]
        for key, value in sorted(self.env.items()):
            args += ["-e", f"{key}={value}"]
        return [*args, s["image"], *s["command"]]

    def start(self) -> None:
        self.remove()
        result = subprocess.run(self.run_args(detach=True), capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise AssertionError(f"starting {self.name} failed: {result.stderr}")

    def run_once(self) -> subprocess.CompletedProcess[str]:
        """Run the service's command to its end (migrations, a one-off CLI command)."""
        self.remove()
        return subprocess.run(self.run_args(detach=False), capture_output=True, text=True, timeout=600)

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.engine, "exec", self.name, *command], capture_output=True, text=True, timeout=120
        )

    def healthcheck(self) -> subprocess.CompletedProcess[str]:
        """The compose healthcheck's command, run inside the container as the engine would."""
        test = list(self.service["healthcheck"]["test"])
        assert test[0] == "CMD", test
        return self.exec(*test[1:])

    def kill(self) -> None:
        subprocess.run(
            [*self.engine, "kill", "--signal", "KILL", self.name], capture_output=True, timeout=120
        )

    def restart(self) -> None:
        result = subprocess.run(
            [*self.engine, "restart", self.name], capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise AssertionError(f"restarting {self.name} failed: {result.stderr}")

    def running(self) -> bool:
        result = subprocess.run(
            [*self.engine, "inspect", "--format", "{{.State.Running}}", self.name],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.stdout.strip() == "true"

    def logs(self) -> str:
        result = subprocess.run([*self.engine, "logs", self.name], capture_output=True, text=True, timeout=60)
        return result.stdout + result.stderr

    def inspect(self, template: str) -> str:
        result = subprocess.run(
            [*self.engine, "inspect", "--format", template, self.name],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.stdout.strip()

    def remove(self) -> None:
        if self.log.parent.exists():
            text = self.logs()
            if text:
                self.log.write_text(text)
        subprocess.run([*self.engine, "rm", "--force", self.name], capture_output=True, timeout=120)
