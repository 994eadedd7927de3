"""Schemathesis over the gateway's own OpenAPI document: no generated request is answered with a 5xx.

Every operation of ``/openapi.json`` is called in process (ASGI) with a real tenant's key and
requests Hypothesis generates from the document: valid ones, then ones that break it; then
sequences that follow the links Schemathesis infers (``POST /personas`` then ``GET``, ``PATCH``
and ``DELETE`` of the id it answered, an upload then its record, ...). Checked: no server error,
and each response conforms to the schema and content type the document declares for its status.
Bounded: a few examples per operation, no shrinking, derandomized so CI sends the same requests
every run.

Schemathesis' pytest plugin (``schemathesis.pytest.from_fixture``) does not run on pytest 9 (it
writes ``Function._nodeid``), so this drives its Python API: one Hypothesis test per operation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from support import Embedded, in_process_stack

#: Examples per operation and generation mode; the stateless run stays well under a minute.
MAX_EXAMPLES = 30
#: Scenarios, and calls per scenario, of the stateful run.
SCENARIOS = 40
STEPS = 6
#: Schemathesis' default checks also expect every schema-valid request to be accepted; ours are
#: not (a generated "image" is random bytes, a generated upload id names nothing): a 4xx is fine.
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
BOUNDED = settings(
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the failure text is enough
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
)


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Embedded]:
    # Negative cases send broken keys by the hundred from one address: unlimited here, so the
    # valid key's requests are never refused for them (test_auth_failures.py covers the limit).
    yield from in_process_stack(tmp_path, monkeypatch, IMAGESTUDIO_MAX_AUTH_FAILURES_PER_MINUTE="0")


def unthrottled_key() -> str:
    """A tenant whose rate limit never answers 429, so every example reaches its route."""
    from imagestudio.db import session_scope
    from imagestudio.tenants.service import tenant_service

    with session_scope() as session:
        tenant = tenant_service.create_tenant(session, name="fuzz", tier="enterprise")
        tenant_service.set_limits(session, tenant_id=tenant.id, requests_per_minute=1_000_000)
        return tenant_service.create_key(session, tenant_id=tenant.id).key


def authorised(case: Any, key: str) -> Any:
    """The case with the tenant's key (a generated ``Authorization`` would only test the 401 path)."""
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
    return case


def fuzz(operation: Any, mode: GenerationMode, key: str, statuses: Counter[tuple[str, int]]) -> None:
    """``MAX_EXAMPLES`` generated requests against one operation; raises on the first failure."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(BOUNDED, max_examples=MAX_EXAMPLES)
    def run(case: Any) -> None:
        # Negative cases keep their broken header when the header is what they break.
        if mode is GenerationMode.POSITIVE:
            authorised(case, key)
        headers = None if "Authorization" in (case.headers or {}) else {"Authorization": f"Bearer {key}"}
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        statuses[mode.value, response.status_code] += 1

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # an operation without inputs has nothing to break


def test_no_generated_request_gets_a_server_error_or_breaks_its_schema(stack: Embedded) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", stack.client.app)
    schema.validate()  # the document itself is valid OpenAPI
    key = unthrottled_key()
    failures: list[str] = []
    statuses: Counter[tuple[str, int]] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # an operation the document cannot describe is itself a failure
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, key, statuses)
            except Exception as exc:  # every failure is collected, then reported together
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert operations >= 50, operations  # the whole document was walked
    assert not failures, "\n\n".join(failures)
    # The key worked: valid requests got past authentication to their routes, and many succeeded.
    assert statuses["positive", 401] == 0, statuses
    assert statuses["positive", 200] + statuses["positive", 201] > MAX_EXAMPLES * 10, statuses


def test_linked_request_sequences_get_no_server_error(stack: Embedded) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", stack.client.app)
    reached: Counter[str] = Counter()

    class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # A tenant per scenario: what one answers (a persona list) never depends on the scenarios
            # before it, which Hypothesis would report as a flaky strategy.
            self.key = unthrottled_key()

        def before_call(self, case: Any) -> None:
            authorised(case, self.key)

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            reached[f"{case.operation.label} {response.status_code}"] += 1
            case.validate_response(response, checks=CHECKS)

    Scenarios.run(settings=settings(BOUNDED, max_examples=SCENARIOS, stateful_step_count=STEPS))
    # Every scenario reached the app. Which links Hypothesis follows depends on what Schemathesis
    # has learned from earlier runs in the same process, so this does not insist on one of them.
    assert sum(reached.values()) >= SCENARIOS, reached
