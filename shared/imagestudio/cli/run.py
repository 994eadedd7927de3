"""Commands that run the system: the gateway (``up``), a worker, the outbox relay, the job sweeper.

The gateway sits above the shared package; ``up`` imports it inside the command, because a worker's
image holds no gateway. A studio's worker is built from the studio registry
(:mod:`imagestudio.studio_worker`), as its package's one-call ``main`` builds it.
"""

from __future__ import annotations

import errno
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel

from imagestudio.config import Environment, Settings, get_settings
from imagestudio.messaging import WEBHOOKS_QUEUE, Studio
from imagestudio.telemetry.logging import configure_logging

console = Console()

#: Every worker: one per studio, plus webhook delivery on its own queue.
WORKERS: tuple[str, ...] = (*(studio.value for studio in Studio), WEBHOOKS_QUEUE)


def start_worker_module(studio: str) -> list[str]:
    """Configure the broker and declare a worker's actors on it (what its package's ``main`` runs); its queues.

    Imported here, when asked for: the gateway's process never loads the studios' workers.
    """
    if studio == "webhooks":  # its actor lives in the shared package (cross-studio)
        from imagestudio.webhooks.worker import QUEUES

        return QUEUES
    if studio not in Studio.__members__:
        raise ValueError(f"no worker named {studio!r}")
    from imagestudio.studio_worker import run_studio_worker

    return run_studio_worker(Studio(studio))


def _dev_key() -> str:
    """The embedded mode's development key: created once, kept in data_dir so restarts reuse it."""
    from imagestudio.db import session_scope
    from imagestudio.errors import Unauthorized
    from imagestudio.tenants.service import tenant_service

    path: Path = get_settings().data_dir / "dev-api-key"
    with session_scope() as session:
        if path.is_file():
            key = path.read_text().strip()
            try:
                tenant_service.authenticate(session, key=key)
                return key
            except Unauthorized:
                pass
        # The dev tenant gets the Pro tier so a newcomer can try every studio.
        tenant = tenant_service.create_tenant(session, name="dev", tier="pro")
        created = tenant_service.create_key(session, tenant_id=tenant.id, name="dev (make up)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(created.key + "\n")
    path.chmod(0o600)
    return created.key


def openapi(
    write: Annotated[
        Path | None,
        typer.Option(help="Write the document to this file (e.g. docs/openapi.json) instead of stdout"),
    ] = None,
) -> None:
    """Print the gateway's OpenAPI document (the committed copy is docs/openapi.json: `make openapi`)."""
    from gateway.app import create_app
    from gateway.openapi import render

    text = render(create_app())
    if write is None:
        typer.echo(text, nl=False)
    else:
        write.write_text(text)
        console.print(f"wrote {write}")


def up(
    host: Annotated[str | None, typer.Option(help="Bind address (default IMAGESTUDIO_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default IMAGESTUDIO_PORT)")] = None,
) -> None:
    """Run the gateway; in embedded mode also every worker, in this one process."""
    import dramatiq
    import uvicorn

    if host:
        os.environ["IMAGESTUDIO_HOST"] = host
    if port:
        os.environ["IMAGESTUDIO_PORT"] = str(port)
    get_settings.cache_clear()
    settings = get_settings()
    # Listen before anything is announced: a banner (and a dev key) for a port another process
    # holds would send the user, or a script reading the banner, to that process.
    listener = _listen(settings.host, settings.port)
    configure_logging()
    from imagestudio.broker import configure_broker
    from imagestudio.db import session_scope
    from imagestudio.jobs.middleware import FailJobWhenMessageDies
    from imagestudio.jobs.service import job_service
    from imagestudio.migrate import upgrade
    from imagestudio.serving import server_config

    upgrade()
    # In embedded mode this process runs every worker: the job middleware is handed in as theirs is.
    broker = configure_broker(middleware=[FailJobWhenMessageDies()])
    simulators, provider_lines = _start_provider_simulators(settings)
    relay = _RelayProcess.for_settings(settings)
    if relay is not None:
        relay.start()
    worker = None
    if settings.embedded_broker:
        for studio in WORKERS:
            start_worker_module(studio)
        with session_scope() as session:
            requeued = job_service.requeue_unfinished(session)
        if requeued:
            console.print(f"re-queued {requeued} unfinished job(s) from the last run")
        worker = dramatiq.Worker(broker, worker_threads=settings.worker_threads)
        worker.start()
    # Never in production: the dev key is a Pro-tier tenant's, and a banner ends up in logs.
    dev_key_wanted = (
        settings.embedded_broker
        and settings.dev_bootstrap
        and settings.environment is not Environment.production
    )
    key = _dev_key() if dev_key_wanted else None
    lines = [
        f"[bold]Image Studio[/bold] ({settings.mode} mode) on [cyan]{settings.base_url}[/cyan]",
        f"API docs: {settings.base_url}/docs",
    ]
    if key:
        lines += [f"dev API key: [yellow]{key}[/yellow]", f"(also in {settings.data_dir / 'dev-api-key'})"]
    lines += ["image providers:", *provider_lines]
    console.print(Panel("\n".join(lines), expand=False))
    # Outside the panel, unwrapped, so a terminal keeps the link whole. The key rides in the
    # fragment, which a browser never sends: no server or proxy log holds it.
    console.print(
        f"web console: {settings.base_url}/studio/" + (f"#key={key}" if key else ""), soft_wrap=True
    )
    from gateway.app import create_app

    try:
        server = uvicorn.Server(
            server_config(functools.partial(create_app, relay_in_process=relay is None), settings)
        )
        server.run(sockets=[listener])
    finally:
        listener.close()
        if worker is not None:
            worker.stop()
        if relay is not None:
            relay.stop()
        for simulator in simulators:
            simulator.stop()


class _RelayProcess:
    """``imagestudio relay`` beside ``imagestudio up``'s gateway: restarted when it exits, stopped with it.

    The child also exits by itself when ``up`` is gone (killed without a chance to stop it).
    """

    #: Seconds between a child's exit and its restart.
    RESTART_SECONDS = 1.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name="relay-process", daemon=True)

    @classmethod
    def for_settings(cls, settings: Settings) -> _RelayProcess | None:
        """One when the gateway would run a relay, on PostgreSQL and RabbitMQ, and the setting allows."""
        from imagestudio.db import is_postgres

        if settings.run_relay and settings.relay_process and not settings.embedded_broker and is_postgres():
            return cls()
        return None

    def start(self) -> None:
        self._thread.start()

    def _supervise(self) -> None:
        # The gateway keeps the job sweeper (its counters belong on the gateway's /metrics).
        command = [
            sys.executable,
            "-m",
            "imagestudio.cli",
            "relay",
            "--parent",
            str(os.getpid()),
            "--no-sweeper",
        ]
        while True:
            with self._lock:
                if self._stop.is_set():
                    return
                # Its own process group: a terminal's Ctrl-C, sent to the gateway's group, never
                # reaches it, even before it has set SIGINT aside (the gateway stops it).
                self._child = subprocess.Popen(command, process_group=0)
            code = self._child.wait()
            if self._stop.wait(self.RESTART_SECONDS):
                return
            console.print(f"[red]the outbox relay exited ({code}); restarting it[/red]")

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stop.set()
            child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._thread.join(timeout)


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` for uvicorn; a port already taken ends the command in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(
        socket.SOL_SOCKET, socket.SO_REUSEADDR, 1
    )  # as uvicorn does: TIME_WAIT is no obstacle
    try:
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            reason = "is already in use by another process; stop it, or choose another with --port"
        else:
            reason = f"cannot be listened on: {exc.strerror or exc}"
        console.print(f"[red]{host}:{port} {reason}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    return listener


def _start_provider_simulators(settings: Settings) -> tuple[list[Any], list[str]]:
    """Serve labelled local SIMULATORS on loopback for providers without a key; the banner's lines."""
    from imagestudio.providers.directory import provider_directory
    from imagestudio.providers.registry import PROVIDERS

    running: list[Any] = []
    simulated: dict[str, dict[str, str]] = {}
    keyless = [name for name in PROVIDERS if not getattr(settings, f"{name}_api_key").get_secret_value()]
    if settings.simulators_enabled and keyless:
        import simulators

        classes = {
            "stability": simulators.StabilitySimulator,
            "wavespeed": simulators.WaveSpeedSimulator,
            "huggingface": simulators.HuggingFaceSimulator,
            "gemini": simulators.GeminiSimulator,
        }
        for name in keyless:
            simulator = classes[name]()
            handle = simulators.run_in_thread(simulator.app)
            running.append(handle)
            simulated[name] = {"api_key": simulator.api_key, "base_url": handle.base_url}
        provider_directory.use_simulators(simulated)
        # Known as simulators before their first answer says so, so that `auto` takes a real local
        # path over a charged placeholder from a fresh server's first job on (issue 28).
        from imagestudio.providers.health import circuit_key, shared_store

        for name in simulated:
            shared_store.mark_simulated(circuit_key(name), True)
    lines = []
    for name in PROVIDERS:
        if name in simulated:
            url = simulated[name]["base_url"]
            lines.append(f"  {name}: [magenta]SIMULATED[/magenta] on {url} (synthetic images)")
        elif name in keyless:
            lines.append(f"  {name}: not configured (set IMAGESTUDIO_{name.upper()}_API_KEY)")
        else:
            lines.append(f"  {name}: configured, {getattr(settings, f'{name}_base_url')}")
    return running, lines


def worker(
    studio: Annotated[str, typer.Argument(help=", ".join(WORKERS))],
    threads: Annotated[
        int | None,
        typer.Option(
            help="Worker threads (default: what IMAGESTUDIO_WORKER_MEMORY_BYTES holds, at most IMAGESTUDIO_WORKER_THREADS)"
        ),
    ] = None,
) -> None:
    """Run one studio's Dramatiq worker on its own queue until SIGTERM/SIGINT."""
    import dramatiq

    if studio not in WORKERS:
        raise typer.BadParameter(f"choose one of {', '.join(WORKERS)}", param_hint="studio")
    configure_logging()
    settings = get_settings()
    queues = set(start_worker_module(studio))
    from imagestudio.broker import get_broker
    from imagestudio.studios.memory import worker_threads

    # The memory model's thread count (as many jobs at the studio's largest input as its memory
    # holds) unless given, set for the whole process: a tenant's share follows the pool's real size.
    count = threads or worker_threads(studio, settings)
    if count != settings.worker_threads:
        os.environ["IMAGESTUDIO_WORKER_THREADS"] = str(count)
        get_settings.cache_clear()
        settings = get_settings()
    dramatiq_worker = dramatiq.Worker(get_broker(), queues=queues, worker_threads=count)
    from imagestudio.telemetry.process import start_worker_telemetry

    telemetry = start_worker_telemetry(settings, studio=studio, worker=dramatiq_worker)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    dramatiq_worker.start()
    console.print(
        f"{studio} worker consuming {sorted(queues)} with {dramatiq_worker.worker_threads} threads "
        f"({settings.mode} mode)"
    )
    stop.wait()
    # Graceful: running jobs finish (or are redelivered if the process is killed meanwhile).
    dramatiq_worker.stop(timeout=settings.job_time_limit_seconds * 1000)
    telemetry.stop()


def relay(
    parent: Annotated[
        int | None, typer.Option(help="Exit when this process is gone (`imagestudio up` passes its own)")
    ] = None,
    sweeper: Annotated[bool, typer.Option(help="Also run the job sweeper beside the relay")] = True,
) -> None:
    """Run the outbox relay and the job sweeper alone (when gateways run with IMAGESTUDIO_RUN_RELAY=false).

    It wakes on PostgreSQL's notification of each commit that staged messages.
    """
    from imagestudio.broker import get_broker
    from imagestudio.jobs.recovery import JobSweeper
    from imagestudio.outbox.relay import OutboxRelay

    configure_logging()
    relay_thread = OutboxRelay(get_broker(), poll_seconds=get_settings().outbox_poll_seconds, listen=True)
    job_sweeper = JobSweeper() if sweeper else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # A child of ``imagestudio up`` leaves a terminal's Ctrl-C to its parent, which stops it (it
    # would otherwise exit first and be restarted while the gateway shuts down).
    signal.signal(signal.SIGINT, signal.SIG_IGN if parent is not None else lambda *_: stop.set())
    relay_thread.start()
    if job_sweeper is not None:
        job_sweeper.start()
    while not stop.wait(1.0):
        if parent is not None and os.getppid() != parent:
            break  # the parent died without stopping this process
    if job_sweeper is not None:
        job_sweeper.stop()
    relay_thread.stop()


def sweep(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit (cron, operators)")] = False,
) -> None:
    """Re-stage jobs whose message was lost or whose worker died; fail them past the last re-stage.

    Every outbox relay (gateway or ``imagestudio relay``) already runs this every
    IMAGESTUDIO_JOB_SWEEP_SECONDS; several at once are safe.
    """
    from imagestudio.db import session_scope
    from imagestudio.jobs.recovery import JobSweeper, job_recovery

    configure_logging()
    if once:
        with session_scope() as session:
            result = job_recovery.sweep(session)
        if result.skipped:
            console.print("the outbox relay is behind (broker away?): no job judged")
        console.print(f"re-staged {result.restaged} job(s), failed {result.lost} lost job(s)")
        return
    job_sweeper = JobSweeper()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    job_sweeper.start()
    stop.wait()
    job_sweeper.stop()
