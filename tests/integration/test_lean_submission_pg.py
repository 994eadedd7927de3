"""The lean submission path answers every case as the full route does, on PostgreSQL, with the
submission in a worker thread (the default) and on the event loop."""

from __future__ import annotations

import pytest
from lean_submission_cases import Send, assert_same_answers, each_case
from support import Embedded

pytestmark = pytest.mark.integration


@pytest.fixture(params=["false", "true"], ids=["thread", "loop"])
def pg_stack_env(request: pytest.FixtureRequest) -> dict[str, str]:
    return {"IMAGESTUDIO_GATEWAY_SUBMIT_ON_LOOP": request.param}


@each_case
def test_the_lean_path_answers_as_the_route(
    pg_stack: Embedded, monkeypatch: pytest.MonkeyPatch, send: Send, status: int
) -> None:
    assert_same_answers(pg_stack, monkeypatch, send, status)
