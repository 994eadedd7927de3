"""The test receiver's ``fail_every``: the chaos suite's receiver that fails at times."""

from __future__ import annotations

import httpx
from webhook_receiver import Receiver


def test_every_nth_unscripted_post_is_answered_500() -> None:
    with Receiver([503], fail_every=3) as receiver:
        answers = [httpx.post(receiver.url, content=b"{}", timeout=5).status_code for _ in range(7)]
    assert answers == [503, 200, 200, 500, 200, 200, 500]
    assert [r.answered for r in receiver.requests] == answers
