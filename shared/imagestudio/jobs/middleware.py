"""Dramatiq middleware that keeps the promise "every accepted job ends".

When Dramatiq gives up on a ``*.run_job`` or ``*.poll`` message (retries exhausted, age limit) the job row
would otherwise stay queued or running forever; this marks it failed with the reason. The worker
entry points hand it to the broker (``configure_broker(middleware=...)``): the broker sits below
the jobs service this calls.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy

from imagestudio.db import session_scope
from imagestudio.errors import JobAbandoned
from imagestudio.jobs.service import job_service
from imagestudio.messaging import JOB_ACTORS
from imagestudio.telemetry.logging import get_logger
from imagestudio.urls import job_path

log = get_logger(__name__)


def _owns_a_job(message: MessageProxy) -> bool:
    """``<studio>.run_job`` and ``<studio>.poll`` (async provider work) each carry a job to its end."""
    return message.actor_name in JOB_ACTORS


class FailJobWhenMessageDies(dramatiq.Middleware):
    """After the Retries middleware has failed a message for good, fail its job."""

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None or not message.failed or not _owns_a_job(message):
            return
        self._fail(message, f"{type(exception).__name__}: {exception}")

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        if _owns_a_job(message):
            self._fail(message, "the message expired before a worker could run it", public=True)

    def _fail(self, message: MessageProxy, detail: str, *, public: bool = False) -> None:
        job_id = message.kwargs.get("job_id")
        if not job_id:
            return
        # An exception's text goes to the log below, not to the client.
        reason = detail if public else "the operator's logs hold the cause."
        problem = JobAbandoned(retries=message.options.get("retries", 0), reason=reason).to_problem(
            instance=job_path(job_id)
        )
        try:
            with session_scope() as session:
                job_service.fail(session, job_id=job_id, problem=problem)
            log.error("job.abandoned", job_id=job_id, detail=detail)
        except Exception as exc:  # the database itself is down: the message stays in the dead-letter queue
            log.exception("job.abandon_failed", job_id=job_id, error=repr(exc))
