"""Run SIMULATORS on loopback with uvicorn in background threads (tests, ``make up``, the embedded default).

Usage::

    sim = StabilitySimulator()
    with run_in_thread(sim.app) as running:
        client = StabilityClient(api_key=sim.api_key, base_url=running.base_url)

    # or with no socket at all (unit tests): a sync httpx transport calling the app in-process
    client = StabilityClient(api_key=sim.api_key, base_url="http://stability.sim",
                             transport=InProcessTransport(sim.app))

``python -m simulators`` starts all four and prints their base URLs and keys as JSON.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self

import httpx
import uvicorn
from starlette.types import ASGIApp

from simulators.gemini import GeminiSimulator
from simulators.huggingface import HuggingFaceSimulator
from simulators.stability import StabilitySimulator
from simulators.wavespeed import WaveSpeedSimulator

__all__ = ["InProcessTransport", "RunningSimulator", "SimulatorFleet", "run_in_thread", "start_all"]

Simulator = StabilitySimulator | WaveSpeedSimulator | HuggingFaceSimulator | GeminiSimulator


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class RunningSimulator:
    """A simulator served on loopback; ``stop()`` shuts it down and joins its thread."""

    base_url: str
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_in_thread(
    app: ASGIApp, host: str = "127.0.0.1", *, port: int = 0, startup_timeout: float = 10.0
) -> RunningSimulator:
    """Serve ``app`` on ``host`` (loopback only) and a free port (or ``port``) in a daemon thread."""
    if not _is_loopback(host):
        raise ValueError(f"simulators bind loopback only, not {host!r}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # A delayed (fault-injected) answer should not hold shutdown for long.
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"simulator:{bound_port}", daemon=True
    )
    thread.start()
    give_up_at = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > give_up_at:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"simulator on {host}:{bound_port} did not start")
        time.sleep(0.01)
    url_host = f"[{host}]" if ":" in host else host
    return RunningSimulator(base_url=f"http://{url_host}:{bound_port}", _server=server, _thread=thread)


class InProcessTransport(httpx.BaseTransport):
    """A sync httpx transport that calls an ASGI app in-process, on its own event-loop thread.

    ``httpx.ASGITransport`` is async-only; this bridges it for the sync provider clients and
    honours the request's read timeout (raising ``httpx.ReadTimeout``), so fault delays behave
    as they would over a socket.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="simulator-loop", daemon=True)
        self._thread.start()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=body)

        async def call() -> tuple[int, httpx.Headers, bytes]:
            response = await self._asgi.handle_async_request(forwarded)
            content = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
            return response.status_code, response.headers, content

        future = asyncio.run_coroutine_threadsafe(call(), self._loop)
        timeout = (request.extensions.get("timeout") or {}).get("read")
        try:
            status, headers, content = future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise httpx.ReadTimeout(f"simulator did not answer within {timeout} s", request=request) from None
        return httpx.Response(status, headers=headers, content=content, request=request)

    def close(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()


@dataclass
class SimulatorFleet:
    """All four simulators running; ``config()`` is the mapping ``registry.build_providers`` takes."""

    simulators: dict[str, Simulator]
    running: dict[str, RunningSimulator]

    def config(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"api_key": self.simulators[name].api_key, "base_url": running.base_url}
            for name, running in self.running.items()
        }

    def stop(self) -> None:
        for running in self.running.values():
            running.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_all(host: str = "127.0.0.1") -> SimulatorFleet:
    """Start every simulator with its default key on its own free loopback port."""
    simulators: dict[str, Simulator] = {
        "stability": StabilitySimulator(),
        "wavespeed": WaveSpeedSimulator(),
        "huggingface": HuggingFaceSimulator(),
        "gemini": GeminiSimulator(),
    }
    running: dict[str, RunningSimulator] = {}
    try:
        for name, simulator in simulators.items():
            running[name] = run_in_thread(simulator.app, host)
    except BaseException:
        for started in running.values():
            started.stop()
        raise
    return SimulatorFleet(simulators=simulators, running=running)


def main() -> None:
    """Start all simulators and block until interrupted (prints the provider config as JSON)."""
    fleet = start_all()
    print(json.dumps({"simulators": fleet.config()}, indent=2), flush=True)  # noqa: T201 - CLI output
    try:
        while all(running.running for running in fleet.running.values()):
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()


if __name__ == "__main__":
    main()
