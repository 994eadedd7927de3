"""The memory phase in ``make test``: caged workers, one tenant's large and lying inputs, another's ordinary jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.memory import MemoryConfig, MemoryRun

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def test_no_worker_dies_and_the_other_tenant_is_on_time_under_large_and_lying_inputs(tmp_path: Path) -> None:
    run = MemoryRun(MemoryConfig(heavy_rounds=1, ordinary_jobs=16, load_seconds=60), tmp_path)
    outcome = run.run_memory()
    table = "\n".join([run.report.table(), outcome.table()])
    print(table)  # noqa: T201  (the figures, shown with -s or on failure)
    # The hostile inputs were sent and the door refused the bomb without a worker seeing it.
    assert outcome.heavy["PNG header 30000x30000 -> 413"] == 1, table
    assert sum(v for k, v in outcome.heavy.items() if k.endswith("-> 202")) >= 5, table
    assert len(outcome.ordinary_seconds) == 16, table
    assert set(outcome.cages) == {"compress", "social", "upscale", "edit", "webhooks"}, table
    assert all(c.peak_bytes > 0 for c in outcome.cages.values()), table
    assert not run.report.failures, "\n".join([table, *run.report.failures, f"logs: {run.report.logs}"])
