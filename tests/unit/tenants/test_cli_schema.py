"""Operator commands on a database that was never migrated: SQLite is migrated on the spot."""

from __future__ import annotations

import re
from pathlib import Path

from support import imagestudio_cli as run_cli


def test_keys_create_on_a_fresh_data_folder_migrates_first(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    created = run_cli("keys", "create", "--tenant", "acme", data_dir=data_dir)
    assert created.returncode == 0, created.stdout + created.stderr
    assert "Traceback" not in created.stderr
    key = re.search(r"key:\s+(isk_\S+)", created.stdout)
    tenant = re.search(r"tenant: (\S+)", created.stdout)
    assert key and tenant, created.stdout
    # The schema is there now: the other operator commands work on the same folder.
    moved = run_cli("tenants", "set-tier", tenant.group(1), "pro", data_dir=data_dir)
    assert moved.returncode == 0 and "now on the pro tier" in moved.stdout, moved.stdout + moved.stderr


def test_every_operator_command_migrates_a_fresh_data_folder(tmp_path: Path) -> None:
    revoke = run_cli("keys", "revoke", "isk_abcdefgh", data_dir=tmp_path / "a")
    assert "no such table" not in revoke.stdout + revoke.stderr
    assert "Traceback" not in revoke.stderr and revoke.returncode == 2  # an unknown key: a usage error
    sweep = run_cli("uploads", "sweep", data_dir=tmp_path / "b")
    assert sweep.returncode == 0 and "deleted 0 expired upload(s)" in sweep.stdout, sweep.stderr
