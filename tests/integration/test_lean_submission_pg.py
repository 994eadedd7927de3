"""The lean submission path answers every case as the full route does, on PostgreSQL (the
submission on the event loop, as ``bench_submit.py`` measures it)."""

from __future__ import annotations

import pytest
from lean_submission_cases import CASES, Send, assert_same_answers
from support import Embedded

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_stack_env() -> dict[str, str]:
    return {"IMAGESTUDIO_GATEWAY_SUBMIT_ON_LOOP": "true"}


@pytest.mark.parametrize(
    ("send", "status"), [(send, status) for _, send, status in CASES], ids=[c[0] for c in CASES]
)
def test_the_lean_path_answers_as_the_route(
    pg_stack: Embedded, monkeypatch: pytest.MonkeyPatch, send: Send, status: int
) -> None:
    assert_same_answers(pg_stack, monkeypatch, send, status)
