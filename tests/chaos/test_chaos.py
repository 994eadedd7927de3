"""The small chaos run in ``make test``: a few hundred jobs, worker kills, one restart of each service."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.harness import ChaosConfig, ChaosRun

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_every_job_ends_and_credits_and_webhooks_balance_under_chaos(tmp_path: Path) -> None:
    config = ChaosConfig(jobs=240, load_seconds=120, drain_seconds=150, kill_every_seconds=5)
    report = ChaosRun(config, tmp_path).run()
    print(report.table())  # noqa: T201  (the figures, shown with -s or on failure)
    assert len(report.accepted) >= config.jobs // 2, report.table()
    assert report.worker_kills >= 3 and {f.kind for f in report.faults} == {"rabbitmq", "postgresql", "s3"}
    assert not report.failures, "\n".join([report.table(), *report.failures, f"logs: {report.logs}"])
