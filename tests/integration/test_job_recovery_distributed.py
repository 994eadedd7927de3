"""Lost messages and duplicates on real services: every job ends, none runs twice at once."""

from __future__ import annotations

import dramatiq
import pika
import psycopg
import pytest
from support import make_image, wait_for

from imagestudio.messaging import Studio
from integration.conftest import Stack
from integration.test_social_distributed import ALL_FORMATS, get_job, submit, submit_part_done, wait_finished

pytestmark = pytest.mark.integration


def _channel_op(stack: Stack, op):  # type: ignore[no-untyped-def]
    with pika.BlockingConnection(pika.URLParameters(stack.services.broker_url)) as conn:
        return op(conn.channel())


def ready_messages(stack: Stack) -> int:
    def count(channel):  # type: ignore[no-untyped-def]
        try:
            return channel.queue_declare(Studio.social.value, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            return 0  # not declared yet

    return int(_channel_op(stack, count))


@pytest.mark.gateway_env(IMAGESTUDIO_JOB_CLAIM_TIMEOUT_SECONDS="3", IMAGESTUDIO_JOB_SWEEP_SECONDS="0.5")
def test_job_whose_message_was_purged_still_succeeds(stack: Stack) -> None:
    job = submit(stack, make_image(600, 400, "JPEG"), formats="youtube.thumbnail")
    wait_for(lambda: ready_messages(stack) >= 1, timeout=30, interval=0.1, what="the relay to publish")
    _channel_op(stack, lambda channel: channel.queue_purge(Studio.social.value))  # the message is lost
    assert get_job(stack, job["id"])["status"] == "queued"
    stack.worker()
    done = wait_finished(stack, job["id"])
    assert done["status"] == "succeeded", done
    with psycopg.connect(stack.services.database_url) as conn:
        row = conn.execute("SELECT restages, lease_owner FROM jobs WHERE id = %s", (job["id"],)).fetchone()
    assert row is not None and row[0] >= 1 and row[1] is None  # the sweeper re-staged it


def test_duplicate_message_while_the_job_runs_does_not_run_it_twice(stack: Stack) -> None:
    worker = stack.worker(IMAGESTUDIO_DEBUG_OUTPUT_DELAY_SECONDS="0.3")
    job = submit_part_done(stack)
    # The same message again (a relay republish after a lost commit), while the first run holds the job.
    duplicate = dramatiq.Message(
        queue_name=Studio.social.value,
        actor_name="social.run_job",
        args=(),
        kwargs={"job_id": job["id"], "inputs": {}},
        options={},
    )
    _channel_op(
        stack,
        lambda channel: channel.basic_publish(
            exchange="", routing_key=Studio.social.value, body=duplicate.encode()
        ),
    )
    wait_for(lambda: "job.lease_held" in worker.output(), timeout=60, interval=0.1, what="the duplicate")
    done = wait_finished(stack, job["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 1, done
    names = [o["name"] for o in done["outputs"]]
    assert len(names) == len(set(names)) == len(ALL_FORMATS) + 1
