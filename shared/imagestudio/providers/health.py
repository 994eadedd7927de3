"""Provider health shared by every process: circuit-breaker state in the database.

:class:`DatabaseCircuitStore` is the :class:`~imagestudio.providers.resilience.CircuitStore` the
create studio uses, over the ``provider_health`` table (``imagestudio/provider_health.py``), so a circuit opened by one worker is open for every worker and for the
gateway's ``GET /providers``. ``update`` runs in its own short transaction and locks the row
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions here are ``BEGIN IMMEDIATE``).

A model the vendor no longer serves (404 on its call, 410) gets a row of its own, keyed
``model:<provider>:<model>`` in state ``gone`` (:meth:`DatabaseCircuitStore.mark_model_gone`);
planning skips it (:func:`unavailable_models`) for ``MODEL_GONE_SECONDS``, then tries it again.

``imagestudio_provider_model_gone`` lives in the process that met the answer (a worker): it is
set by :func:`report_model_gone` and lowered by :func:`report_model_served` when a later call to
that model succeeds in the same process (the vendor serves it again), which also lifts the mark,
so plans offer the model again at once. Without that, the worker's gauge stayed at 1 until it
restarted, and the alert never resolved.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imagestudio.config import Settings, get_settings
from imagestudio.db import session_scope
from imagestudio.provider_health import ProviderHealth
from imagestudio.providers.registry import PROVIDERS
from imagestudio.providers.resilience import (
    CircuitBreaker,
    CircuitHealth,
    CircuitSnapshot,
    CircuitState,
    CircuitStore,
    InMemoryCircuitStore,
)
from imagestudio.telemetry.metrics import PROVIDER_CIRCUIT_OPEN, PROVIDER_MODEL_GONE

__all__ = [
    "MODEL_GONE_SECONDS",
    "DatabaseCircuitStore",
    "ProviderHealth",
    "breaker_for",
    "circuit_key",
    "provider_health",
    "report_model_gone",
    "report_model_served",
    "shared_store",
    "unavailable_models",
]

#: How long a model that answered "gone" is left out of plans before it is tried again.
MODEL_GONE_SECONDS = 6 * 3600.0
#: ``provider_health.state`` of a model the vendor no longer serves.
GONE = "gone"


def model_key(provider: str, model: str) -> str:
    """The ``provider_health`` key of one model's availability (beside the provider's circuit)."""
    return f"model:{provider}:{model}"


def circuit_key(provider: str) -> str:
    """The key :class:`CircuitBreaker` stores a provider's state under."""
    return f"provider:{provider}"


def _snapshot(row: ProviderHealth) -> CircuitSnapshot:
    return CircuitSnapshot(
        state=CircuitState(row.state),
        consecutive_failures=row.consecutive_failures,
        opened_at=row.opened_at,
        trial_started_at=row.trial_started_at,
        outcomes=tuple((float(at), bool(ok)) for at, ok in row.outcomes or ()),
    )


def _write(row: ProviderHealth, snapshot: CircuitSnapshot) -> None:
    row.state = snapshot.state.value
    row.consecutive_failures = snapshot.consecutive_failures
    row.opened_at = snapshot.opened_at
    row.trial_started_at = snapshot.trial_started_at
    row.outcomes = [[at, ok] for at, ok in snapshot.outcomes]


class DatabaseCircuitStore:
    """Breaker state in the ``provider_health`` table; every ``update`` is one locked transaction."""

    def load(self, key: str) -> CircuitSnapshot:
        with session_scope() as session:
            row = session.get(ProviderHealth, key)
            return _snapshot(row) if row is not None else CircuitSnapshot()

    def update(self, key: str, change: Callable[[CircuitSnapshot], CircuitSnapshot]) -> CircuitSnapshot:
        with session_scope() as session:
            row = self._locked(session, key)
            before = _snapshot(row)
            after = change(before)
            if after != before:  # a closed circuit admitting a call changes nothing: skip the write
                _write(row, after)
            return after

    def mark_simulated(self, key: str, simulated: bool) -> None:
        """Record whether the endpoint answered as a labelled simulator."""
        with session_scope() as session:
            row = self._locked(session, key)
            if row.simulated != simulated:
                row.simulated = simulated

    def all(self) -> dict[str, tuple[CircuitSnapshot, bool | None]]:
        """Every stored circuit key with its snapshot and its ``simulated`` observation."""
        with session_scope() as session:
            rows = session.scalars(select(ProviderHealth)).all()
            return {row.key: (_snapshot(row), row.simulated) for row in rows if row.state != GONE}

    def mark_model_gone(self, provider: str, model: str) -> None:
        """Record that ``provider`` answered its model call with "not found" or "gone" (now)."""
        with session_scope() as session:
            row = self._locked(session, model_key(provider, model))
            row.state = GONE
            row.opened_at = time.time()

    def lift_model_gone(self, provider: str, model: str) -> bool:
        """Forget that ``provider`` answered ``model`` gone (it served it since); whether it was marked."""
        with session_scope() as session:
            row = session.get(ProviderHealth, model_key(provider, model))
            if row is None or row.state != GONE:
                return False
            session.delete(row)
            return True

    def gone_models(self, *, now: float | None = None) -> set[tuple[str, str]]:
        """``(provider, model)`` of every model marked gone within ``MODEL_GONE_SECONDS``."""
        now = time.time() if now is None else now
        with session_scope() as session:
            rows = session.scalars(select(ProviderHealth).where(ProviderHealth.state == GONE)).all()
            gone = set()
            for row in rows:
                if row.opened_at is not None and now - row.opened_at < MODEL_GONE_SECONDS:
                    _, provider, model = row.key.split(":", 2)
                    gone.add((provider, model))
            return gone

    @staticmethod
    def _locked(session: Session, key: str) -> ProviderHealth:
        """The row for ``key``, locked for this transaction (created on first use)."""
        statement = select(ProviderHealth).where(ProviderHealth.key == key).with_for_update()
        row = session.scalars(statement).one_or_none()
        if row is not None:
            return row
        nested = session.begin_nested()
        session.add(ProviderHealth(key=key, outcomes=[]))
        try:
            nested.commit()
        except IntegrityError:
            nested.rollback()  # another process created it first: lock theirs
        return session.scalars(statement.execution_options(populate_existing=True)).one()


# --- the breakers every process shares ------------------------------------------------------

shared_store = DatabaseCircuitStore()


def breaker_for(
    provider: str, *, store: CircuitStore | None = None, settings: Settings | None = None
) -> CircuitBreaker:
    """The provider's circuit breaker on the shared (database) store, tuned by settings."""
    settings = settings or get_settings()
    return CircuitBreaker(
        provider,
        failure_threshold=settings.circuit_failure_threshold,
        cooldown_seconds=settings.circuit_cooldown_seconds,
        window_seconds=settings.circuit_window_seconds,
        store=store or shared_store,
    )


def provider_health(
    *, store: DatabaseCircuitStore | None = None
) -> dict[str, tuple[CircuitHealth, bool | None]]:
    """Every provider's breaker health and whether its endpoint last answered as a simulator."""
    store = store or shared_store
    observed = store.all()  # one query; each breaker then reads its own row from memory
    report = {}
    for name in PROVIDERS:
        snapshot = observed.get(circuit_key(name), (CircuitSnapshot(), None))[0]
        memory = InMemoryCircuitStore()

        def stored(_: CircuitSnapshot, snapshot: CircuitSnapshot = snapshot) -> CircuitSnapshot:
            return snapshot

        memory.update(circuit_key(name), stored)
        health = breaker_for(name, store=memory).health()
        PROVIDER_CIRCUIT_OPEN.labels(name).set(1 if health["state"] == CircuitState.open.value else 0)
        report[name] = (health, observed.get(circuit_key(name), (None, None))[1])
    return report


#: ``(provider, model)`` pairs this process reported gone: its gauge reads 1 for them.
_reported_gone: set[tuple[str, str]] = set()
_reported_lock = threading.Lock()


def report_model_gone(provider: str, model: str, *, store: DatabaseCircuitStore | None = None) -> None:
    """The vendor answered ``model``'s call with "not found" or "gone": mark it and raise the gauge."""
    (store or shared_store).mark_model_gone(provider, model)
    with _reported_lock:
        _reported_gone.add((provider, model))
        PROVIDER_MODEL_GONE.labels(provider, model).set(1)


def report_model_served(provider: str, model: str, *, store: DatabaseCircuitStore | None = None) -> bool:
    """A call to ``model`` succeeded: if this process reported it gone, lift the mark and lower the gauge.

    Only a process that reported the model gone does anything (no write on every successful call);
    a mark another process made lapses after ``MODEL_GONE_SECONDS`` as before.
    """
    with _reported_lock:
        if (provider, model) not in _reported_gone:
            return False
    (store or shared_store).lift_model_gone(provider, model)
    with _reported_lock:
        _reported_gone.discard((provider, model))
        PROVIDER_MODEL_GONE.labels(provider, model).set(0)
    return True


def unavailable_models(*, store: DatabaseCircuitStore | None = None) -> set[tuple[str, str]]:
    """``(provider, model)`` pairs planning leaves out: the vendor answered that they are gone."""
    return (store or shared_store).gone_models()
