"""Priority on real services: a high-priority job overtakes a backlog of normal ones on RabbitMQ.

The backlog and then the high job are queued (published by the gateway's relay to the ``compress``
queue, declared with ``x-max-priority``) before any worker runs; one worker with one thread then
takes them one at a time, and RabbitMQ hands it the high job first.
"""

from __future__ import annotations

import subprocess
import uuid

import httpx
import pika
import pytest
from support import wait_for

from imagestudio.broker import upgrade_queues
from imagestudio.config import Settings
from imagestudio.messaging import MAX_PRIORITY
from integration.conftest import Services, Stack, _rabbitmqctl, auth, create_key, job_of, moment, tiny_png

pytestmark = pytest.mark.integration

API = "/api/image-studio"
BACKLOG = 12


def queued_messages(stack: Stack, queue: str) -> int:
    with pika.BlockingConnection(pika.URLParameters(stack.services.broker_url)) as connection:
        declared = connection.channel().queue_declare(queue, passive=True)
        return int(declared.method.message_count)


def test_a_high_priority_job_overtakes_a_backlog_of_normal_ones_on_rabbitmq(stack: Stack) -> None:
    key = create_key(stack.services.env, f"priority-{uuid.uuid4().hex[:6]}", tier="enterprise")
    upload = httpx.post(
        f"{stack.base_url}{API}/uploads",
        headers=auth(key),
        files={"file": ("tiny.png", tiny_png((40, 90, 200)), "image/png")},
        timeout=30,
    )
    assert upload.status_code == 201, upload.text
    params = {"image": upload.json()["id"], "quality": 80}
    batch = httpx.post(
        f"{stack.base_url}{API}/jobs/batch",
        headers=auth(key),
        json={"jobs": [{"studio": "compress", "params": params}] * BACKLOG},
        timeout=60,
    )
    assert batch.status_code == 200, batch.text
    backlog = [e["job"]["id"] for e in batch.json()["jobs"] if e["status"] == 202]
    assert len(backlog) == BACKLOG
    high = httpx.post(
        f"{stack.base_url}{API}/jobs/batch",
        headers=auth(key),
        json={"jobs": [{"studio": "compress", "params": {**params, "priority": "high"}}]},
        timeout=60,
    )
    assert high.status_code == 200, high.text
    high_id = high.json()["jobs"][0]["job"]["id"]
    assert job_of(stack, key, high_id)["queue_position"] == 0
    stack.wait_for_durable_queue("compress")
    # Every message is in RabbitMQ before a worker takes any (other tests' leftovers may add more).
    wait_for(
        lambda: queued_messages(stack, "compress") >= BACKLOG + 1,
        timeout=60,
        interval=0.2,
        what="the relay to publish the backlog and the high job",
    )

    worker = stack.worker(
        "compress", IMAGESTUDIO_WORKER_THREADS="1", IMAGESTUDIO_DEBUG_OUTPUT_DELAY_SECONDS="0.2"
    )
    try:
        done = wait_for(
            lambda: all(job_of(stack, key, j)["status"] == "succeeded" for j in [*backlog, high_id]),
            timeout=120,
            interval=0.5,
            what="the backlog and the high job to finish",
        )
        assert done, worker.output()[-3000:]
    finally:
        worker.stop()
    high_start = moment(job_of(stack, key, high_id)["started_at"])
    starts = sorted(moment(job_of(stack, key, j)["started_at"]) for j in backlog)
    assert high_start < starts[0], f"high started at {high_start}, the first normal one at {starts[0]}"


def test_queues_an_older_version_declared_without_priorities_are_re_created(services: Services) -> None:
    """``imagestudio queues upgrade``'s first half: RabbitMQ refuses to declare an existing queue
    with other arguments, so a queue declared without ``x-max-priority`` is deleted and declared
    again (its jobs are staged again from the database by the command); a second run finds none."""
    vhost = f"imagestudio-it-upgrade-{uuid.uuid4().hex[:6]}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
        with pika.BlockingConnection(pika.URLParameters(url)) as connection:
            old = connection.channel()  # as the previous version declared it: no x-max-priority
            old.queue_declare(
                "social",
                durable=True,
                arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "social.XQ"},
            )
            old.basic_publish(exchange="", routing_key="social", body=b"{}")
        settings = Settings(secret_key="integration-secret-key-0123456789abcdef", broker_url=url)  # type: ignore[call-arg]
        assert upgrade_queues(settings) == ["social"]
        with pika.BlockingConnection(pika.URLParameters(url)) as connection:
            # Declared as this version declares it: RabbitMQ accepts the same arguments again.
            connection.channel().queue_declare(
                "social",
                durable=True,
                arguments={
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": "social.XQ",
                    "x-max-priority": MAX_PRIORITY,
                },
            )
        assert upgrade_queues(settings) == []
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, timeout=60)
