"""On PostgreSQL: two identical batches raced under one Idempotency-Key make one set of jobs."""

from __future__ import annotations

import pytest
from batch_race_support import assert_one_set_of_jobs, race_identical_batches
from support import Embedded

pytestmark = pytest.mark.integration


def test_identical_batches_raced_under_one_key_make_one_set_of_jobs_on_postgresql(
    pg_stack: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The batch does not fit whole (25 jobs, the plan runs 20): its entries commit one by one.
    for _ in range(3):
        assert_one_set_of_jobs(race_identical_batches(pg_stack, monkeypatch))
