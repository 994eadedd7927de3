"""Every worker entry point hands the job middleware to its broker, which places it where it sees
the Retries verdict and the telemetry middleware sees its own (the broker never imports it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import BASE_ENV

from imagestudio.cli.run import WORKERS

#: In a fresh interpreter: import a worker's entry point, print its broker's middleware in order.
_MIDDLEWARE_OF = """
import json, sys
from imagestudio.cli.run import start_worker_module
from imagestudio.broker import get_broker
start_worker_module(sys.argv[1])
print(json.dumps([type(m).__name__ for m in get_broker().middleware]))
"""

STUDIOS = [name for name in WORKERS if name != "webhooks"]


@pytest.mark.parametrize("studio", STUDIOS)
def test_a_studio_worker_fails_jobs_whose_message_dies(studio: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        **BASE_ENV,
        "IMAGESTUDIO_DATA_DIR": str(tmp_path),
        "IMAGESTUDIO_BROKER_URL": "memory://",
    }
    done = subprocess.run(
        [sys.executable, "-c", _MIDDLEWARE_OF, studio],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    names = json.loads(done.stdout.strip().splitlines()[-1])

    assert "FailJobWhenMessageDies" in names
    # "after" hooks run in reverse: Retries decides first, then the job middleware, then telemetry.
    order = [names.index(n) for n in ("TelemetryMiddleware", "FailJobWhenMessageDies", "Retries")]
    assert order == sorted(order)


def test_the_broker_alone_adds_no_job_middleware() -> None:
    from imagestudio.broker import build_broker
    from imagestudio.config import Settings

    broker = build_broker(Settings(broker_url="memory://"))  # type: ignore[call-arg]

    assert "FailJobWhenMessageDies" not in [type(m).__name__ for m in broker.middleware]
