"""The loop's cache-only sessions: one taken back untouched serves the next submission, a touched one never does."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gateway.submission import _CacheOnlySessions
from imagestudio.db import CacheOnlySession, NeedsDatabase
from imagestudio.jobs.models import Job


def test_an_untouched_session_is_lent_again() -> None:
    sessions = _CacheOnlySessions()
    first = sessions.take()
    assert isinstance(first, CacheOnlySession)
    sessions.give_back(first)
    assert sessions.take() is first
    assert sessions.take() is not first  # lent out: the next request gets its own


def test_a_session_left_in_a_transaction_is_dropped() -> None:
    sessions = _CacheOnlySessions()
    session = sessions.take()
    session.begin()
    sessions.give_back(session)
    assert sessions.take() is not session


def test_a_refused_query_leaves_no_transaction_behind() -> None:
    """What the caches could not answer raises, and the session is left as it was made."""
    session = CacheOnlySession()
    with pytest.raises(NeedsDatabase):
        session.execute(text("SELECT 1"))
    assert not session.in_transaction() and not session.identity_map


def test_a_session_holding_an_object_or_a_note_is_dropped() -> None:
    sessions = _CacheOnlySessions()
    holding = sessions.take()
    holding.add(Job())
    noted = sessions.take()
    noted.info["seen"] = True
    sessions.give_back(holding)
    sessions.give_back(noted)
    fresh = sessions.take()
    assert fresh is not holding and fresh is not noted


def test_no_more_than_keep_are_kept_idle() -> None:
    sessions = _CacheOnlySessions()
    lent = [sessions.take() for _ in range(_CacheOnlySessions.KEEP + 3)]
    for session in lent:
        sessions.give_back(session)
    assert len(sessions._idle) == _CacheOnlySessions.KEEP
