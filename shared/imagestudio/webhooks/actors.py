"""The ``webhooks.deliver`` actor (queue ``webhooks``) and the sweeper that backs it up.

Imported by the webhooks worker (``imagestudio worker webhooks``) and, in embedded mode, by
``imagestudio up``, after the broker is configured.
"""

from __future__ import annotations

import threading

import dramatiq
from dramatiq.brokers.stub import StubBroker

from imagestudio.broker import actor, get_broker
from imagestudio.config import get_settings
from imagestudio.db import session_scope
from imagestudio.messaging import WEBHOOKS_DELIVER, WEBHOOKS_QUEUE
from imagestudio.telemetry.logging import get_logger
from imagestudio.webhooks.service import webhook_service

log = get_logger(__name__)


def _options() -> dict[str, int]:
    settings = get_settings()
    return {
        # One request (bounded by its timeout) plus the database work around it.
        "time_limit": int((2 * settings.webhook_timeout_seconds + 60) * 1000),
        # Receiver failures are retried by the delivery's own schedule, in the database; these
        # retries only cover the database or broker being briefly away.
        "max_retries": 5,
        "min_backoff": 1_000,
        "max_backoff": 300_000,
    }


@actor(WEBHOOKS_DELIVER, queue=WEBHOOKS_QUEUE, **_options())
def deliver(delivery_id: str, token: str) -> None:
    """Send one webhook delivery if it is due (ids only in the message; the row has the rest)."""
    webhook_service.deliver(delivery_id=delivery_id, token=token)


class WebhookSweeper(dramatiq.Middleware):
    """Re-stages pending deliveries whose message was lost, from a thread in each webhooks worker.

    With the in-process broker every message dies with the process, so the first sweep after
    boot re-stages all pending deliveries.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.clear()
        everything = isinstance(broker, StubBroker)
        self._thread = threading.Thread(
            target=self._run, args=(everything,), name="webhook-sweeper", daemon=True
        )
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self, everything: bool) -> None:
        while not self._stop.is_set():
            try:
                with session_scope() as session:
                    webhook_service.requeue_pending(
                        session, **({"overdue_seconds": None} if everything else {})
                    )
                everything = False
            except Exception as exc:  # database away: try again next sweep, never die
                log.warning("webhook.sweep_failed", error=repr(exc))
            self._stop.wait(get_settings().webhook_sweep_seconds)


def _install_sweeper(broker: dramatiq.Broker) -> None:
    if not any(isinstance(m, WebhookSweeper) for m in broker.middleware):
        broker.add_middleware(WebhookSweeper())


_install_sweeper(get_broker())
