"""The synchronous SDK client is generated from the asynchronous one, and the file in the tree is that output."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "unasync_client.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_client", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sync_client_is_what_the_async_client_generates() -> None:
    generated = _generator().generate()
    assert (ROOT / "clients/python/imagestudio_client/_sync.py").read_text(encoding="utf-8") == generated, (
        "run .venv/bin/python scripts/unasync_client.py after editing _async.py"
    )


def test_generated_client_is_synchronous() -> None:
    generated = _generator().generate()
    assert "async " not in generated and "await " not in generated and "Async" not in generated
    assert "class ImageStudio:" in generated and "class Job(JobData):" in generated


def test_check_mode_exits_zero_only_when_fresh() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
