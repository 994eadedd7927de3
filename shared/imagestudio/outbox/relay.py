"""The relay: background threads publishing the outbox, woken at each commit that staged rows."""

from __future__ import annotations

import threading
import time

import dramatiq
import psycopg

from imagestudio.config import get_settings
from imagestudio.db import is_postgres, libpq_url
from imagestudio.outbox.publishers import ConfirmedBatchPublisher, EnqueuePublisher, new_publisher
from imagestudio.outbox.service import BATCH_SIZE, OUTBOX_CHANNEL, outbox_service, relay_wake
from imagestudio.telemetry.logging import get_logger

log = get_logger(__name__)


class OutboxRelay:
    """Background threads publishing the outbox; ``wake()`` after a commit for low latency.

    On PostgreSQL it runs ``lanes`` threads, each with its own broker connection: RabbitMQ
    confirms a persistent message only once it is on disk (tens of milliseconds), and one thread
    waiting for a batch's confirms would hold every message committed meanwhile until then. One
    lane at a time leads: it waits for a wake, locks a batch (``FOR UPDATE SKIP LOCKED``, as
    several gateways' relays share rows) and hands the lead on before publishing it, so a message
    committed while that lane waits for confirms goes out on the next, and a wake costs one query,
    not one per lane. SQLite takes no row locks and its broker is in-process (no confirms to wait
    for): one lane there.

    ``listen``: a relay in its own process (``imagestudio relay``) also wakes on PostgreSQL's
    notifications of :data:`OUTBOX_CHANNEL`, which every commit that staged rows sends.
    """

    def __init__(
        self,
        broker: dramatiq.Broker,
        *,
        poll_seconds: float = 1.0,
        lanes: int | None = None,
        listen: bool = False,
    ) -> None:
        self._broker = broker
        self._poll_seconds = poll_seconds
        self._lanes = lanes
        self._listen = listen
        self._wake = relay_wake
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: threading.Thread | None = None
        #: Held by the lane that waits for the next wake and takes the next batch.
        self._lead = threading.Lock()

    def wake(self) -> None:
        self._wake.set()

    @property
    def lanes(self) -> int:
        """Threads publishing (0 before ``start``)."""
        return len(self._threads)

    def start(self) -> None:
        lanes = self._lanes
        if lanes is None:
            lanes = get_settings().outbox_relay_lanes if is_postgres() else 1
        self._threads = [
            threading.Thread(target=self._run, name=f"outbox-relay-{lane}", daemon=True)
            for lane in range(lanes)
        ]
        for thread in self._threads:
            thread.start()
        if self._listen and is_postgres():
            self._listener = threading.Thread(target=self._listen_loop, name="outbox-listen", daemon=True)
            self._listener.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in [*self._threads, *([self._listener] if self._listener else [])]:
            thread.join(timeout)

    @property
    def listening(self) -> bool:
        """Whether the relay wakes on PostgreSQL's notifications (``listen`` on PostgreSQL)."""
        return self._listener is not None

    def _listen_loop(self) -> None:
        """Wake the relay on each notification of :data:`OUTBOX_CHANNEL`; reconnect when the server
        goes away (meanwhile the relay still sweeps every ``poll_seconds``)."""
        url = libpq_url()
        backoff = self._poll_seconds
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    self._wake.set()  # rows committed while nobody listened
                    backoff = self._poll_seconds
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._wake.set()
            except psycopg.Error as exc:  # server restarting: the sweeps carry on meanwhile
                log.warning("outbox.listen_failed", error=repr(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _run(self) -> None:
        publisher = new_publisher(self._broker)
        try:  # now, not on this lane's first batch (whose message would wait for the handshake)
            publisher.connect()
        except Exception as exc:  # broker down: the first batch connects (and retries) later
            log.warning("outbox.relay_connect_failed", error=repr(exc))
        backoff = 0.0  # a first sweep at once: rows may be waiting from before the start
        try:
            while not self._stop.is_set():
                backoff = self._lead_one_batch(publisher, backoff)
        finally:
            publisher.close()

    def _lead_one_batch(self, publisher: ConfirmedBatchPublisher | EnqueuePublisher, backoff: float) -> float:
        """Take the lead, wait for a wake (or ``backoff``), publish one batch; the next backoff."""
        self._lead.acquire()
        leading = True

        def hand_on() -> None:
            nonlocal leading
            if leading:
                leading = False
                self._lead.release()

        try:
            self._wake.wait(backoff)
            self._wake.clear()
            if self._stop.is_set():
                self._wake.set()  # the next lane sees the stop at once too
                return backoff
            if (
                outbox_service.publish_pending(self._broker, publisher=publisher, claimed=hand_on)
                == BATCH_SIZE
            ):
                self._wake.set()  # a full batch: more may wait, the next lane sweeps at once
            return self._poll_seconds
        except Exception as exc:  # database unreachable: back off, never die
            log.exception("outbox.relay_error", error=repr(exc))
            return min(max(backoff, self._poll_seconds) * 2, 30.0)
        finally:
            hand_on()

    def drain(self, timeout: float = 10.0) -> None:
        """Publish everything pending now (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if outbox_service.publish_pending(self._broker) == 0:
                return
