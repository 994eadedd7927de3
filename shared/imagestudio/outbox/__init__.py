"""The transactional outbox: messages written with the job, published by a relay.

The gateway adds an ``OutboxMessage`` in the same transaction as the job row, so a job is
never committed without its message nor a message sent for a job that was rolled back. The
relay publishes pending rows (RabbitMQ publisher confirms on) and marks them published; a crash
between publish and mark republishes the row, which the idempotent workers absorb.

A commit that staged rows wakes the relay at once: this process's relay through an in-process
event, a relay in another process (``imagestudio relay``, which ``imagestudio up`` starts on
PostgreSQL) through PostgreSQL's ``NOTIFY`` on :data:`OUTBOX_CHANNEL`, which this process's
notifier sends after the commit (never on rollback), coalesced (``notifier.py``): a thread for
commits made in threads, the event loop itself for the gateway's submission committed on it.

The package's rooms: ``models.py`` (the table), ``service.py`` (staging, waking, one batch),
``notifier.py`` (the ``NOTIFY`` after commits),
``publishers.py`` (confirmed batches on RabbitMQ, several in flight at once) and ``relay.py``
(the thread that pipelines them on PostgreSQL and RabbitMQ; lanes of threads otherwise).
"""

from __future__ import annotations

from imagestudio.outbox.models import OutboxMessage
from imagestudio.outbox.publishers import ConfirmedBatchPublisher
from imagestudio.outbox.relay import OutboxRelay
from imagestudio.outbox.service import NOTIFY_SQL, OUTBOX_CHANNEL, notify, outbox_service

__all__ = [
    "NOTIFY_SQL",
    "OUTBOX_CHANNEL",
    "ConfirmedBatchPublisher",
    "OutboxMessage",
    "OutboxRelay",
    "notify",
    "outbox_service",
]
