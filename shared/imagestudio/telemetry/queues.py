"""Queue depth and age, read when the gateway is scraped.

Per studio queue (and ``webhooks``): messages ready, waiting in the delay queue (retries) and
in the dead-letter queue, and consumers attached; per studio, the age of the oldest job still
queued; the outbox backlog. RabbitMQ is asked with passive ``queue_declare`` calls on a
short-lived connection of our own (never the broker's publishing channel), the database with
two aggregate queries; results are cached for :data:`CACHE_SECONDS`, so Prometheus replicas
and Grafana refreshes cost one probe. In embedded mode the StubBroker's queues are counted.

Every gateway replica exports the same figures: aggregate them with ``max``, not ``sum``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import dramatiq
from dramatiq.common import dq_name, xq_name
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import func, select

from imagestudio.broker import get_broker
from imagestudio.config import get_settings
from imagestudio.db import session_scope, utcnow
from imagestudio.messaging import QUEUES, Studio
from imagestudio.telemetry.logging import get_logger
from imagestudio.telemetry.metrics import (
    BROKER_UP,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PENDING,
    QUEUE_CONSUMERS,
    QUEUE_MESSAGES,
    QUEUE_OLDEST_JOB_AGE,
)

log = get_logger(__name__)

#: Seconds a probe's result is served before RabbitMQ and the database are asked again.
CACHE_SECONDS = 5.0
#: Seconds a probe may spend connecting to and talking with RabbitMQ.
PROBE_TIMEOUT_SECONDS = 3.0


@dataclass
class QueueStats:
    """One probe's result."""

    #: (queue, state) → messages, state one of ready, delayed, dead_letter.
    messages: dict[tuple[str, str], int] = field(default_factory=dict)
    consumers: dict[str, int] = field(default_factory=dict)
    broker_up: bool = False
    #: studio → seconds the oldest queued job has waited.
    oldest_job_age: dict[str, float] = field(default_factory=dict)
    outbox_pending: int | None = None
    outbox_oldest_age: float = 0.0


def _rabbitmq_counts(url: str) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    import pika
    from pika.exceptions import ChannelClosedByBroker

    params = pika.URLParameters(url)
    params.socket_timeout = PROBE_TIMEOUT_SECONDS
    params.stack_timeout = PROBE_TIMEOUT_SECONDS
    params.blocked_connection_timeout = PROBE_TIMEOUT_SECONDS
    params.connection_attempts = 1
    messages: dict[tuple[str, str], int] = {}
    consumers: dict[str, int] = {}
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        for queue in QUEUES:
            for state, name in (
                ("ready", queue),
                ("delayed", dq_name(queue)),
                ("dead_letter", xq_name(queue)),
            ):
                try:
                    # passive: count only, never create a queue the workers have not declared.
                    declared = channel.queue_declare(queue=name, passive=True)
                except ChannelClosedByBroker:  # 404: not declared yet, so empty
                    channel = connection.channel()
                    messages[(queue, state)] = 0
                    continue
                messages[(queue, state)] = declared.method.message_count
                if state == "ready":
                    consumers[queue] = declared.method.consumer_count
    finally:
        connection.close()
    return messages, consumers


def _stub_counts(broker: dramatiq.Broker) -> dict[tuple[str, str], int]:
    messages: dict[tuple[str, str], int] = {}
    queues = getattr(broker, "queues", {})
    dead = getattr(broker, "dead_letters_by_queue", {})
    for queue in QUEUES:
        ready, delayed = queues.get(queue), queues.get(dq_name(queue))
        messages[(queue, "ready")] = ready.qsize() if ready is not None else 0
        messages[(queue, "delayed")] = delayed.qsize() if delayed is not None else 0
        messages[(queue, "dead_letter")] = len(dead.get(queue, ()))
    return messages


def _age(since: datetime | None, now: datetime) -> float:
    if since is None:
        return 0.0
    if since.tzinfo is None:  # SQLite without the UTC type decorator
        now = now.replace(tzinfo=None)
    return max(0.0, (now - since).total_seconds())


def _database_ages(stats: QueueStats) -> None:
    from imagestudio.jobs.models import Job, JobStatus
    from imagestudio.outbox import OutboxMessage

    now = utcnow()
    with session_scope() as session:
        rows = session.execute(
            select(Job.studio, func.min(Job.created_at))
            .where(Job.status == JobStatus.queued.value)
            .group_by(Job.studio)
        ).all()
        pending, oldest = session.execute(
            select(func.count(), func.min(OutboxMessage.created_at)).where(
                OutboxMessage.published_at.is_(None)
            )
        ).one()
    # Studios without a queued job report 0 so alerts and panels see a series for each.
    stats.oldest_job_age = {studio.value: 0.0 for studio in Studio}
    for studio, created_at in rows:
        stats.oldest_job_age[str(studio)] = _age(created_at, now)
    stats.outbox_pending = int(pending or 0)
    stats.outbox_oldest_age = _age(oldest, now)


def probe() -> QueueStats:
    """Ask the broker and the database now (errors leave the affected figures out)."""
    stats = QueueStats()
    settings = get_settings()
    try:
        if settings.embedded_broker:
            stats.messages = _stub_counts(get_broker())
        else:
            stats.messages, stats.consumers = _rabbitmq_counts(settings.broker_url)
        stats.broker_up = True
    except Exception as exc:  # broker down: say so in broker_up, keep serving the rest
        log.warning("metrics.queue_probe_failed", error=repr(exc))
    try:
        _database_ages(stats)
    except Exception as exc:
        log.warning("metrics.queue_age_probe_failed", error=repr(exc))
    return stats


class QueueStatsCollector:
    """A Prometheus collector serving the latest :func:`probe`, at most ``cache_seconds`` old."""

    def __init__(
        self,
        *,
        cache_seconds: float = CACHE_SECONDS,
        probe: Callable[[], QueueStats] = probe,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache_seconds = cache_seconds
        self._probe = probe
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, QueueStats] | None = None

    def stats(self) -> QueueStats:
        with self._lock:  # concurrent scrapes share one probe
            now = self._clock()
            if self._cached is None or now - self._cached[0] >= self._cache_seconds:
                self._cached = (now, self._probe())
            return self._cached[1]

    def reset(self) -> None:
        with self._lock:
            self._cached = None

    def collect(self) -> Iterator[Metric]:
        stats = self.stats()
        up = GaugeMetricFamily(BROKER_UP, "1 when the last queue probe reached the broker, else 0")
        up.add_metric([], 1.0 if stats.broker_up else 0.0)
        yield up
        messages = GaugeMetricFamily(
            QUEUE_MESSAGES,
            "Messages in a studio's queue by state: ready, delayed (retry backoff), dead_letter",
            labels=["queue", "state"],
        )
        for (queue, state), count in sorted(stats.messages.items()):
            messages.add_metric([queue, state], float(count))
        yield messages
        consumers = GaugeMetricFamily(QUEUE_CONSUMERS, "Consumers attached to a queue", labels=["queue"])
        for queue, count in sorted(stats.consumers.items()):
            consumers.add_metric([queue], float(count))
        yield consumers
        ages = GaugeMetricFamily(
            QUEUE_OLDEST_JOB_AGE,
            "Seconds the oldest still-queued job of a studio has waited",
            labels=["studio"],
        )
        for studio, age in sorted(stats.oldest_job_age.items()):
            ages.add_metric([studio], age)
        yield ages
        pending = GaugeMetricFamily(OUTBOX_PENDING, "Outbox messages not yet published to the broker")
        oldest = GaugeMetricFamily(
            OUTBOX_OLDEST_AGE, "Seconds the oldest unpublished outbox message has waited"
        )
        if stats.outbox_pending is not None:
            pending.add_metric([], float(stats.outbox_pending))
            oldest.add_metric([], stats.outbox_oldest_age)
        yield pending
        yield oldest


#: The gateway's collector (one per process: the cache is shared by every app instance).
queue_stats = QueueStatsCollector()
