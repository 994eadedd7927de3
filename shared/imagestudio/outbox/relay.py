"""The relay: background threads publishing the outbox, woken at each commit that staged rows."""

from __future__ import annotations

import os
import select
import threading
import time
from typing import Any

import dramatiq
import psycopg

from imagestudio.config import get_settings
from imagestudio.db import is_postgres, libpq_url
from imagestudio.outbox.publishers import ConfirmedBatchPublisher, EnqueuePublisher, new_publisher
from imagestudio.outbox.service import BATCH_SIZE, OUTBOX_CHANNEL, outbox_service, relay_wake
from imagestudio.telemetry.logging import get_logger

log = get_logger(__name__)

#: A batch claimed this recently with rows in it makes the relay "busy": it gathers before the next.
BUSY_SECONDS = 0.05


class Wakeups:
    """What wakes the leading lane: this process's commits (``relay_wake``) and, with ``listen``,
    PostgreSQL's notifications of :data:`OUTBOX_CHANNEL`.

    The notifications are read by the leading lane itself, all those pending at once (one wake for
    a burst of commits, no listener thread handing each one over); :meth:`drain` reads them again
    just before a claim, whose statement sees every commit they announce. A lost connection is a
    wake (rows may have been committed while nobody listened) and is opened again after a backoff,
    the relay sweeping meanwhile.
    """

    def __init__(self, *, listen: bool, retry_seconds: float) -> None:
        self._listen = listen
        self._retry_seconds = retry_seconds
        self._backoff = retry_seconds
        self._retry_at = 0.0
        self._conn: psycopg.Connection[Any] | None = None
        self._fresh = False
        self._pipe = os.pipe() if listen else None
        if self._pipe is not None:
            os.set_blocking(self._pipe[1], False)

    @property
    def listening(self) -> bool:
        return self._listen

    def set(self) -> None:
        relay_wake.set()
        if self._pipe is not None:
            try:
                os.write(self._pipe[1], b"\0")
            except BlockingIOError:  # the pipe is full: a wake is already pending
                pass

    def wait(self, timeout: float) -> bool:
        """Until a wake or ``timeout``: whether something woke it (the wakes pending are consumed)."""
        if self._pipe is None:
            woken = relay_wake.wait(timeout)
            relay_wake.clear()
            return woken
        if relay_wake.is_set():
            relay_wake.clear()
            self._drain_pipe()
            return True
        conn = self._listening()
        if self._fresh:  # just listening (again): rows committed meanwhile, a sweep finds them
            self._fresh = False
            return True
        poller = select.poll()  # not select(): any descriptor number
        for fd in [self._pipe[0]] if conn is None else [self._pipe[0], conn.fileno()]:
            poller.register(fd, select.POLLIN)
        ready = [
            fd for fd, _ in poller.poll(1000 * (timeout if conn is not None else min(timeout, self._backoff)))
        ]
        relay_wake.clear()
        if self._pipe[0] in ready:
            self._drain_pipe()
        return self.drain() or bool(ready)

    def drain(self) -> bool:
        """Consume the notifications already received (a claim about to run covers them): whether
        there were any, or the connection was lost (rows may have been committed unannounced)."""
        conn = self._conn
        if conn is None:
            return False
        heard = False
        try:
            conn.pgconn.consume_input()
            while conn.pgconn.notifies() is not None:
                heard = True
        except psycopg.Error as exc:  # server gone: a wake, and listen again later
            log.warning("outbox.listen_failed", error=repr(exc))
            self._drop()
            return True
        return heard

    def _listening(self) -> psycopg.Connection[Any] | None:
        if self._conn is None and time.monotonic() >= self._retry_at:
            try:
                conn = psycopg.connect(libpq_url(), autocommit=True, connect_timeout=5)
                conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
            except psycopg.Error as exc:  # server restarting: the sweeps carry on meanwhile
                log.warning("outbox.listen_failed", error=repr(exc))
                self._retry_at = time.monotonic() + self._backoff
                self._backoff = min(self._backoff * 2, 30.0)
                return None
            self._conn, self._backoff, self._fresh = conn, self._retry_seconds, True
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._retry_at = time.monotonic() + self._backoff
        if conn is not None:
            conn.close()

    def _drain_pipe(self) -> None:
        assert self._pipe is not None
        os.set_blocking(self._pipe[0], False)
        try:
            while os.read(self._pipe[0], 512):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        self._drop()
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None


class _Lane:
    """One lane's connections: its broker publisher and, on PostgreSQL, its database connection
    (held across batches: no pool checkout, the claim statement prepared once)."""

    def __init__(self, publisher: ConfirmedBatchPublisher | EnqueuePublisher, postgres: bool) -> None:
        self.publisher = publisher
        self._postgres = postgres
        self._conn: psycopg.Connection[Any] | None = None

    def publish(self, broker: dramatiq.Broker, claimed: Any) -> int:
        """One batch; how many messages it sent."""
        if not self._postgres:
            return outbox_service.publish_pending(broker, publisher=self.publisher, claimed=claimed)
        if self._conn is None:
            self._conn = psycopg.connect(libpq_url(), connect_timeout=10)
        try:
            return outbox_service.publish_batch(self._conn, self.publisher, claimed=claimed)
        except Exception:
            self.close_database()  # whatever broke it, the next batch starts on a new connection
            raise

    def close_database(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:  # a broken connection: nothing more to do
                pass

    def close(self) -> None:
        self.close_database()
        self.publisher.close()


class OutboxRelay:
    """Background threads publishing the outbox; ``wake()`` after a commit for low latency.

    On PostgreSQL it runs ``lanes`` threads, each with its own broker and database connections:
    RabbitMQ confirms a persistent message only once it is on disk, and one thread waiting for a
    batch's confirms would hold every message committed meanwhile until then. One lane at a time
    leads: it waits for a wake, locks a batch (``FOR UPDATE SKIP LOCKED``, as several relays share
    rows) and hands the lead on before publishing it, so a message committed while that lane waits
    for confirms goes out on the next, and a wake costs one query, not one per lane. SQLite takes
    no row locks and its broker is in-process (no confirms to wait for): one lane there.

    Under load (a batch with rows claimed within :data:`BUSY_SECONDS`) the leading lane lets
    commits gather for ``gather_seconds`` before it claims: a batch of several rows costs little
    more than one of one row. An idle relay claims at once.

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
        gather_seconds: float | None = None,
    ) -> None:
        self._broker = broker
        self._poll_seconds = poll_seconds
        self._lanes = lanes
        self._listen = listen
        self._gather_seconds = gather_seconds
        self._wake: Wakeups | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        #: Held by the lane that waits for the next wake and takes the next batch.
        self._lead = threading.Lock()
        #: When the last batch with rows was claimed (monotonic), by any lane.
        self._last_rows_at = -1.0

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()
        else:
            relay_wake.set()

    @property
    def lanes(self) -> int:
        """Threads publishing (0 before ``start``)."""
        return len(self._threads)

    def start(self) -> None:
        settings = get_settings()
        postgres = is_postgres()
        lanes = self._lanes
        if lanes is None:
            lanes = settings.outbox_relay_lanes if postgres else 1
        if self._gather_seconds is None:
            self._gather_seconds = settings.outbox_gather_seconds
        self._wake = Wakeups(listen=self._listen and postgres, retry_seconds=self._poll_seconds)
        self._threads = [
            threading.Thread(target=self._run, args=(postgres,), name=f"outbox-relay-{lane}", daemon=True)
            for lane in range(lanes)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
        if self._wake is not None and not any(thread.is_alive() for thread in self._threads):
            self._wake.close()

    @property
    def listening(self) -> bool:
        """Whether the relay wakes on PostgreSQL's notifications (``listen`` on PostgreSQL)."""
        return self._wake is not None and self._wake.listening

    def _run(self, postgres: bool) -> None:
        lane = _Lane(new_publisher(self._broker), postgres)
        try:  # now, not on this lane's first batch (whose message would wait for the handshake)
            lane.publisher.connect()
        except Exception as exc:  # broker down: the first batch connects (and retries) later
            log.warning("outbox.relay_connect_failed", error=repr(exc))
        backoff = 0.0  # a first sweep at once: rows may be waiting from before the start
        try:
            while not self._stop.is_set():
                backoff = self._lead_one_batch(lane, backoff)
        finally:
            lane.close()

    def _lead_one_batch(self, lane: _Lane, backoff: float) -> float:
        """Take the lead, wait for a wake (or ``backoff``), publish one batch; the next backoff."""
        assert self._wake is not None and self._gather_seconds is not None
        self._lead.acquire()
        leading = True

        def hand_on() -> None:
            nonlocal leading
            if leading:
                leading = False
                self._lead.release()

        def claimed() -> None:
            self._last_rows_at = time.monotonic()  # before the next lead looks
            hand_on()

        try:
            self._wake.wait(backoff)
            if self._stop.is_set():
                self.wake()  # the next lane sees the stop at once too
                return backoff
            if self._gather_seconds and time.monotonic() - self._last_rows_at < BUSY_SECONDS:
                self._stop.wait(self._gather_seconds)  # busy: let the next commits join this batch
            self._wake.drain()  # what was announced so far, this claim sees
            if lane.publish(self._broker, claimed) == BATCH_SIZE:
                self.wake()  # a full batch: more may wait, the next lane sweeps at once
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
