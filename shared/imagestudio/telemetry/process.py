"""A worker process's telemetry: tracing set up, ``/metrics`` and ``/healthz`` served, cleaned up.

Usage (``imagestudio worker``)::

    telemetry = start_worker_telemetry(settings, studio="social", worker=dramatiq_worker)
    dramatiq_worker.start()
    ...
    dramatiq_worker.stop()
    telemetry.stop()
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import dramatiq

from imagestudio.telemetry.metrics import MetricsServer, mark_process_dead, start_metrics_server
from imagestudio.telemetry.tracing import configure_tracing, shutdown_tracing

if TYPE_CHECKING:
    from imagestudio.config import Settings


def worker_healthy(worker: dramatiq.Worker) -> bool:
    """Started, and every consumer and worker thread still alive (a dead thread never recovers)."""
    threads = [*worker.consumers.values(), *worker.workers]
    return bool(worker.workers) and all(thread.is_alive() for thread in threads)


class WorkerTelemetry:
    def __init__(self, server: MetricsServer | None) -> None:
        self.server = server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        mark_process_dead(os.getpid())
        shutdown_tracing()


def start_worker_telemetry(settings: Settings, *, studio: str, worker: dramatiq.Worker) -> WorkerTelemetry:
    """Configure tracing and serve metrics on ``settings.metrics_port`` (0: no endpoint)."""
    configure_tracing(settings, service_name=f"imagestudio-{studio}-worker")
    server = None
    if settings.metrics_port:
        server = start_metrics_server(
            settings.metrics_port, host=settings.host, healthy=lambda: worker_healthy(worker)
        )
    return WorkerTelemetry(server)
