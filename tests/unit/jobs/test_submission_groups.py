"""A tenant's submissions gathered while its statement is in flight (``jobs.submission_groups``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from imagestudio.jobs.submission_groups import SubmissionGroups


class Statements:
    """A fake ``send``: records each group, holds the statement until ``release``; the account
    accepts a group while ``accept`` says so."""

    def __init__(self, accept: bool = True, fail: bool = False) -> None:
        self.groups: list[list[str]] = []
        self.accept = accept
        self.fail = fail
        self.release = asyncio.Event()

    async def send(self, items: Sequence[str]) -> bool:
        self.groups.append(list(items))
        await self.release.wait()
        if self.fail:
            raise ConnectionError("database away")
        return self.accept


async def _submit_while_held(statements: Statements, keys: Sequence[str]) -> list[bool | BaseException]:
    groups: SubmissionGroups[str] = SubmissionGroups(statements.send, max_group=3)
    tasks = []
    for n, key in enumerate(keys):
        tasks.append(asyncio.create_task(groups.submit(key, f"{key}{n}")))
        await asyncio.sleep(0)  # each reaches the groups in order
    statements.release.set()
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def test_submissions_arriving_while_a_statement_is_in_flight_go_together_in_the_next() -> None:
    statements = Statements()
    results = asyncio.run(_submit_while_held(statements, ["a"] * 6))
    assert results == [True] * 6
    # The first at once; the five that waited in statements of at most three, in arrival order.
    assert statements.groups == [["a0"], ["a1", "a2", "a3"], ["a4", "a5"]]


def test_each_key_has_its_own_statement_in_flight() -> None:
    statements = Statements()
    results = asyncio.run(_submit_while_held(statements, ["a", "b", "a", "b"]))
    assert results == [True] * 4
    assert sorted(statements.groups) == [["a0"], ["a2"], ["b1"], ["b3"]]


def test_a_refused_group_is_refused_for_each_of_its_submissions() -> None:
    statements = Statements(accept=False)
    assert asyncio.run(_submit_while_held(statements, ["a"] * 3)) == [False] * 3


def test_a_failed_statement_raises_in_every_submission_it_carried() -> None:
    statements = Statements(fail=True)
    results = asyncio.run(_submit_while_held(statements, ["a"] * 3))
    assert all(isinstance(r, ConnectionError) for r in results)


def test_a_cancelled_waiter_is_left_out_of_the_next_statement() -> None:
    async def scenario() -> list[list[str]]:
        statements = Statements()
        groups: SubmissionGroups[str] = SubmissionGroups(statements.send)
        first = asyncio.create_task(groups.submit("a", "first"))
        await asyncio.sleep(0)
        gone = asyncio.create_task(groups.submit("a", "gone"))
        kept = asyncio.create_task(groups.submit("a", "kept"))
        await asyncio.sleep(0)
        gone.cancel()
        statements.release.set()
        assert await first and await kept
        with pytest.raises(asyncio.CancelledError):
            await gone
        return statements.groups

    assert asyncio.run(scenario()) == [["first"], ["kept"]]
