"""The outbox: the job and its message commit together; the relay survives a broker outage."""

from __future__ import annotations

from typing import Any

import dramatiq
from sqlalchemy import select
from support import Embedded, wait_for

from imagestudio.db import session_scope
from imagestudio.jobs.models import Job
from imagestudio.outbox import OutboxMessage, OutboxRelay, outbox_service


class FlakyBroker:
    """Refuses the first ``failures`` publishes, then records them."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[dramatiq.Message[Any]] = []

    def enqueue(self, message: dramatiq.Message[Any], **_: object) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker down")
        self.sent.append(message)


def stage(job_id: str) -> None:
    with session_scope() as session:
        outbox_service.add(
            session, queue_name="social", actor_name="social.run_job", kwargs={"job_id": job_id}
        )


def test_rollback_drops_the_message_with_the_job(embedded: Embedded) -> None:
    with session_scope() as session:
        session.add(Job(id="j-rolled-back", tenant_id="t", studio="social"))
        outbox_service.add(
            session, queue_name="social", actor_name="social.run_job", kwargs={"job_id": "j-rolled-back"}
        )
        session.rollback()
    with session_scope() as session:
        assert session.scalars(select(OutboxMessage)).all() == []


def test_relay_keeps_rows_while_broker_is_down_then_publishes_once(embedded: Embedded) -> None:
    # The embedded fixture's own relay is running; stop it so this test drives publishing.
    embedded.client.app.state.relay.stop()  # type: ignore[attr-defined]
    stage("job-1")
    stage("job-2")
    broker = FlakyBroker(failures=1)
    assert outbox_service.publish_pending(broker) == 0  # type: ignore[arg-type]
    with session_scope() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [r.published_at for r in rows] == [None, None]
        assert rows[0].last_error and "broker down" in rows[0].last_error
    assert outbox_service.publish_pending(broker) == 2  # type: ignore[arg-type]
    assert outbox_service.publish_pending(broker) == 0  # type: ignore[arg-type]
    assert [m.kwargs["job_id"] for m in broker.sent] == ["job-1", "job-2"]
    with session_scope() as session:
        ids = [r.message_id for r in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert [m.message_id for m in broker.sent] == ids  # a republished row keeps its message id


def test_batch_publisher_settles_confirms_that_arrive_out_of_order() -> None:
    # With several queues in one batch RabbitMQ may confirm tag 4 before a ``multiple`` up to 3;
    # counting confirms instead of tracking tags never saw the batch finish (a 5 s stall, then a
    # republish of the whole batch). Two batches in flight on one channel: each settles on its
    # own tags, in whatever order they come, and a nack fails only the batch it names.
    from types import SimpleNamespace

    import pika

    from imagestudio.outbox import ConfirmedBatchPublisher
    from imagestudio.outbox.publishers import InFlight

    publisher = ConfirmedBatchPublisher(broker=None, url="amqp://unused")
    timers: list[float] = []
    # The connection: a settled batch sets a zero-delay timer, which ends ``_wait``'s
    # ``process_data_events`` at once instead of at its 50 ms time limit.
    publisher._connection = SimpleNamespace(call_later=lambda delay, _callback: timers.append(delay))
    publisher._waiting = True  # as in ``publish``: a settled batch ends the wait at once
    first, second = InFlight(1, 3), InFlight(4, 2)  # tags 1-3 and 4-5
    publisher._flight = [first, second]

    def confirm(kind: type, tag: int, multiple: bool) -> None:
        publisher._on_confirm(SimpleNamespace(method=kind(delivery_tag=tag, multiple=multiple)))

    confirm(pika.spec.Basic.Ack, 4, False)  # the second batch's first message, before the first's
    assert (first.unconfirmed, second.unconfirmed) == ({1, 2, 3}, {5})
    confirm(pika.spec.Basic.Ack, 2, True)  # 1 and 2
    assert (first.unconfirmed, second.unconfirmed) == ({3}, {5})
    assert timers == [] and publisher.in_flight == 2  # nothing settled yet: no early wake
    confirm(pika.spec.Basic.Nack, 5, False)
    assert second.settled and second.error is not None and "nacked" in second.error
    assert not first.settled and first.error is None
    assert timers == [0] and publisher.in_flight == 1
    confirm(pika.spec.Basic.Ack, 3, False)
    assert first.settled and first.error is None and publisher.in_flight == 0
    third, fourth = InFlight(6, 2), InFlight(8, 1)
    publisher._flight = [third, fourth]
    confirm(pika.spec.Basic.Ack, 0, True)  # tag 0 with multiple: every outstanding one
    assert third.settled and fourth.settled and third.error is None and fourth.error is None
    fifth, sixth = InFlight(9, 2), InFlight(11, 2)
    publisher._flight = [fifth, sixth]
    publisher._broker = SimpleNamespace(queues_pending=set())
    # A return names no tag: every batch in flight fails (sent again; consumers absorb repeats).
    publisher._on_return(None, SimpleNamespace(routing_key="social"), None, b"")
    assert fifth.error is not None and "returned" in fifth.error and sixth.error is not None
    assert publisher.in_flight == 0 and publisher._broker.queues_pending == {"social"}
    confirm(pika.spec.Basic.Ack, 12, True)  # the confirms still coming for them change nothing
    assert "returned" in fifth.error


def test_one_lane_on_sqlite(embedded: Embedded) -> None:
    embedded.client.app.state.relay.stop()  # type: ignore[attr-defined]
    relay = OutboxRelay(FlakyBroker(failures=0), poll_seconds=0.05)  # type: ignore[arg-type]
    relay.start()
    try:
        assert relay.lanes == 1  # SQLite takes no row locks: two lanes would publish a row twice
    finally:
        relay.stop()


class BatchRecorder:
    """A relay lane's publisher that records each batch's job ids."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def connect(self) -> None:
        pass

    def publish(self, messages: list[tuple[str, int | None, bytes]]) -> None:
        self.batches.append(
            [dramatiq.Message.decode(bytes(body)).kwargs["job_id"] for _q, _p, body in messages]
        )

    def close(self) -> None:
        pass


def test_a_busy_relay_gathers_commits_into_one_batch_and_an_idle_one_does_not_wait(
    embedded: Embedded, monkeypatch: Any
) -> None:
    import imagestudio.outbox.relay as relay_module

    embedded.client.app.state.relay.stop()  # type: ignore[attr-defined]
    recorder = BatchRecorder()
    monkeypatch.setattr(relay_module, "new_publisher", lambda _broker: recorder)
    # "Busy" for an hour after a batch with rows: the three commits below come while it gathers.
    monkeypatch.setattr(relay_module, "BUSY_SECONDS", 3600.0)
    relay = OutboxRelay(FlakyBroker(failures=0), poll_seconds=60, gather_seconds=1.0)  # type: ignore[arg-type]
    relay.start()
    try:
        stage("alone")  # idle: published at once, not held for the gather window
        wait_for(lambda: recorder.batches == [["alone"]], timeout=10, what="the first batch")
        for job_id in ("b", "c", "d"):  # three commits, three wakes
            stage(job_id)
        wait_for(lambda: len(recorder.batches) > 1, timeout=10, what="the second batch")
        assert recorder.batches == [["alone"], ["b", "c", "d"]]
    finally:
        relay.stop()
