"""The relay: background threads publishing the outbox, woken at each commit that staged rows."""

from __future__ import annotations

import os
import select
import threading
import time
from typing import Any

import dramatiq
import psycopg
from psycopg.pq import TransactionStatus

from imagestudio.config import get_settings
from imagestudio.db import is_postgres, libpq_url
from imagestudio.outbox.publishers import ConfirmedBatchPublisher, EnqueuePublisher, InFlight, new_publisher
from imagestudio.outbox.service import BATCH_SIZE, OUTBOX_CHANNEL, outbox_service, relay_wake, wake_pipes
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

    def __init__(self, *, listen: bool, retry_seconds: float, pipe: bool | None = None) -> None:
        self._listen = listen
        self._retry_seconds = retry_seconds
        self._backoff = retry_seconds
        self._retry_at = 0.0
        self._conn: psycopg.Connection[Any] | None = None
        self._fresh = False
        #: Which of its ``also`` descriptors the last ``wait`` saw readable.
        self.also_ready: list[int] = []
        self._poller = select.poll()
        self._polled: tuple[int, ...] = ()
        #: A self-pipe (always when listening): what a poll sees of ``set`` and this process's commits.
        self._pipe = os.pipe() if listen or pipe else None
        if self._pipe is not None:
            os.set_blocking(self._pipe[1], False)
            wake_pipes.add(self._pipe[1])

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

    def wait(self, timeout: float, also: tuple[int, ...] = ()) -> bool:
        """Until a wake, ``timeout``, or (with a pipe) data on one of the descriptors ``also``:
        whether something woke it (the wakes pending are consumed; ``also`` readable is no wake,
        :attr:`also_ready` says which)."""
        if self._pipe is None:
            woken = relay_wake.wait(timeout)
            relay_wake.clear()
            return woken
        if relay_wake.is_set():
            relay_wake.clear()
            self._drain_pipe()
            return True
        self.also_ready = []
        conn = self._listening() if self._listen else None
        if self._fresh:  # just listening (again): rows committed meanwhile, a sweep finds them
            self._fresh = False
            return True
        fds = (self._pipe[0], -1 if conn is None else conn.fileno(), *also)
        if fds != self._polled:  # the poller kept while its descriptors stay the same
            self._poller = select.poll()  # not select(): any descriptor number
            for fd in fds:
                if fd >= 0:
                    self._poller.register(fd, select.POLLIN)
            self._polled = fds
        poller = self._poller
        if conn is None and self._listen:
            timeout = min(timeout, self._backoff)
        ready = [fd for fd, _ in poller.poll(1000 * timeout)]
        if also:
            self.also_ready = [fd for fd in ready if fd in also]
            ready = [fd for fd in ready if fd not in also]
        if relay_wake.is_set():
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

    def reset(self) -> None:
        """After an error around a wait: the ``LISTEN`` connection opened again, later."""
        self._drop()
        self._polled = ()

    def close(self) -> None:
        self._drop()
        if self._pipe is not None:
            wake_pipes.discard(self._pipe[1])
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

    With ``outbox_relay_pipelined`` on PostgreSQL with RabbitMQ it runs one thread,
    :class:`_Pipeline`: up to ``lanes`` batches in flight on one confirm-mode channel, each in a
    transaction of its own committed once all its confirms are in (``bench/README.md``, "Issue 31,
    the relay pipelined"; the default since "Issue 31, the relay: quiet P2, session 6"). Otherwise
    (the setting off; SQLite, the in-process broker, tests' recorders) it runs ``lanes`` threads,
    each with its own broker and database connections: RabbitMQ confirms a persistent message
    only once it is on disk, and one thread waiting for a batch's confirms would hold every
    message committed meanwhile until then. One lane at a time
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
        #: The pipelined relay (PostgreSQL and RabbitMQ), once started; None with lanes.
        self.pipeline: _Pipeline | None = None

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
        publisher = new_publisher(self._broker)
        pipelined = (
            settings.outbox_relay_pipelined and postgres and isinstance(publisher, ConfirmedBatchPublisher)
        )
        self._wake = Wakeups(
            listen=self._listen and postgres, retry_seconds=self._poll_seconds, pipe=pipelined
        )
        if pipelined:
            assert isinstance(publisher, ConfirmedBatchPublisher)
            pipeline = self.pipeline = _Pipeline(self, publisher, in_flight=lanes)
            self._threads = [threading.Thread(target=pipeline.run, name="outbox-relay", daemon=True)]
        else:
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


class _Pipeline:
    """PostgreSQL and RabbitMQ: one thread, batches pipelined on one confirm-mode channel.

    A claim locks and marks its rows in a transaction of its own (one of ``in_flight`` database
    connections) and sends them without waiting for their confirms; the next wake claims and sends
    the next batch meanwhile. A batch's transaction commits when all of its confirms are in, in
    whatever order they arrive (the ``COMMIT`` sent without waiting for it: its WAL flush does not
    hold the thread), and rolls back (its rows pending, the attempt recorded) when a message was
    nacked or returned, the channel was lost or no confirm came in time: nothing is marked
    published that RabbitMQ did not confirm, and a crash anywhere before the commit leaves the rows
    pending (their locks go with the connection), to be sent again. One thread polls the wakes
    (``LISTEN``, this process's commits), the broker's socket and the committing connections
    together: no lead handed between threads, no wait per batch.

    Under load (a batch with rows claimed within :data:`BUSY_SECONDS`) a wake is answered
    ``gather_seconds`` later, confirms read meanwhile, so the commits of that window join one claim.
    """

    def __init__(self, relay: OutboxRelay, publisher: ConfirmedBatchPublisher, *, in_flight: int) -> None:
        self._relay = relay
        self.publisher = publisher
        #: Database connections not holding a batch (None: to open on first need).
        self._free: list[psycopg.Connection[Any] | None] = [None] * in_flight
        #: Batches sent, their transactions open: (connection, claimed rows, the batch).
        self._flight: list[tuple[psycopg.Connection[Any], list[Any], InFlight]] = []
        #: Confirmed batches whose ``COMMIT`` was sent, by the connection's socket: (connection, rows).
        self._committing: dict[int, tuple[psycopg.Connection[Any], list[Any]]] = {}
        #: Rows published (tests and benches read it).
        self.published = 0

    @property
    def in_flight(self) -> int:
        """Batches sent whose transactions are still open."""
        return len(self._flight) + len(self._committing)

    def run(self) -> None:
        relay, wake = self._relay, self._relay._wake
        assert wake is not None and relay._gather_seconds is not None
        gather = relay._gather_seconds
        try:  # now, not on the first batch (whose message would wait for the handshake)
            self.publisher.connect()
        except Exception as exc:  # broker down: the first batch connects (and retries) later
            log.warning("outbox.relay_connect_failed", error=repr(exc))
        woken, due, claim_at = True, 0.0, None  # a first sweep at once: rows may wait from before
        backoff = 0.0
        ready: list[int] = []
        retry_at = 0.0  # after a failure: no claim before then, wakes or not
        try:
            while not relay._stop.is_set():
                try:
                    if self._committing and ready:
                        self._committed(ready)
                    if self._flight:
                        deadline = self.publisher.deadline()
                        broker = self.publisher.fileno()
                        if broker in ready or (deadline is not None and time.monotonic() >= deadline):
                            self.publisher.pump()
                        if any(batch.settled for _, _, batch in self._flight):
                            self._settle()
                    elif not self._committing and not self._busy():
                        self._end_idle_transactions()
                    now = time.monotonic()
                    if (woken or now >= due) and self._free and now >= retry_at:
                        if claim_at is None:
                            busy = gather and now - relay._last_rows_at < BUSY_SECONDS
                            claim_at = now + gather if busy and woken else now
                        if now >= claim_at:
                            if not woken and not self._flight:
                                self.publisher.keep_alive()  # a sweep: heartbeats read and answered
                            woken, claim_at = False, None
                            try:
                                sent = self._claim(wake)
                                if sent == BATCH_SIZE:
                                    woken = True  # a full batch: more may wait, claim again at once
                                backoff, due = 0.0, time.monotonic() + relay._poll_seconds
                                if sent < 0:  # the broker away: try again at the next sweep
                                    retry_at = due
                            except Exception as exc:  # database unreachable: back off, never die
                                log.exception("outbox.relay_error", error=repr(exc))
                                backoff = min(max(backoff, relay._poll_seconds) * 2, 30.0)
                                due = retry_at = time.monotonic() + backoff
                            ready = []
                            continue
                    # Wait: for a wake, the claim's moment, the next sweep, confirms or commits.
                    until = [due]
                    if claim_at is not None:
                        until.append(claim_at)
                    deadline = self.publisher.deadline()
                    if deadline is not None:
                        until.append(deadline)
                    if woken and not self._free:
                        until = [deadline if deadline is not None else now + relay._poll_seconds]
                    timeout = max(0.0, min(until) - time.monotonic())
                    also = tuple(self._committing)
                    if self._flight:
                        broker = self.publisher.fileno()
                        if broker is not None:
                            also = (*also, broker)
                    if wake.wait(timeout, also=also):
                        woken = True
                    ready = wake.also_ready
                except Exception as exc:  # a socket gone under the wait, anything unforeseen: never die
                    log.exception("outbox.relay_error", error=repr(exc))
                    backoff = min(max(backoff, relay._poll_seconds) * 2, 30.0)
                    woken, claim_at, ready = False, None, []
                    due = retry_at = time.monotonic() + backoff
                    wake.reset()
                    relay._stop.wait(min(backoff, 1.0))
        finally:
            self.publisher.close()  # every batch still in flight fails: its rows stay pending
            self._settle()
            while self._committing:  # the commits sent: wait for them (a clean stop loses none)
                self._committed(list(self._committing), wait=True)
            for conn in self._free:
                if conn is not None:
                    conn.close()

    def _claim(self, wake: Wakeups) -> int:
        conn = self._free.pop()
        try:
            if conn is None:
                conn = psycopg.connect(libpq_url(), connect_timeout=10)
            wake.drain()  # what was announced so far, this claim sees
            rows, batch = outbox_service.send_batch(conn, self.publisher, keep_open=self._busy())
        except Exception:
            if conn is not None:
                conn.close()  # whatever broke it, the next claim starts on a new connection
            self._free.append(None)
            raise
        if batch is None:
            self._free.append(conn)
            return -1 if rows else 0  # -1: not sent (broker away), their attempt recorded
        self._relay._last_rows_at = time.monotonic()
        self._flight.append((conn, rows, batch))
        return len(rows)

    def _busy(self) -> bool:
        return time.monotonic() - self._relay._last_rows_at < BUSY_SECONDS

    def _end_idle_transactions(self) -> None:
        """An idle relay holds no transaction open (a busy one keeps one begun for its next claim)."""
        for n, conn in enumerate(self._free):
            if conn is not None and conn.info.transaction_status != TransactionStatus.IDLE:
                try:
                    conn.rollback()
                except psycopg.Error:  # broken: opened again on its next claim
                    conn.close()
                    self._free[n] = None

    def _settle(self) -> None:
        """End every batch whose confirms are all in (its ``COMMIT`` sent) or that failed."""
        still: list[tuple[psycopg.Connection[Any], list[Any], InFlight]] = []
        chain = self._busy()
        for conn, rows, batch in self._flight:
            if not batch.settled:
                still.append((conn, rows, batch))
                continue
            try:
                if batch.error is None:
                    self._committing[outbox_service.send_commit(conn, chain=chain)] = (conn, rows)
                else:
                    outbox_service.settle_batch(conn, rows, batch)
                    self._free.append(conn)
            except Exception as exc:  # the mark not committed: the rows stay pending (sent again)
                log.warning("outbox.settle_failed", error=repr(exc), count=len(rows))
                conn.close()
                self._free.append(None)
        self._flight = still

    def _committed(self, ready: list[int], *, wait: bool = False) -> None:
        """Read the results of the commits whose connections are readable."""
        for fd in ready:
            entry = self._committing.get(fd)
            if entry is None:
                continue
            conn, rows = entry
            try:
                done = outbox_service.commit_done(conn, wait=wait)
            except Exception as exc:  # not committed: the rows stay pending (sent again)
                log.warning("outbox.settle_failed", error=repr(exc), count=len(rows))
                del self._committing[fd]
                conn.close()
                self._free.append(None)
                continue
            if done:
                del self._committing[fd]
                self.published += len(rows)
                self._free.append(conn)
