"""A webhook receiver on loopback for tests: records every request, answers from a script."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Answers each POST with the next scripted status (then ``default``); ``hold`` blocks answers.

    ``fail_every=n`` answers every n-th unscripted POST with 500 instead of ``default`` (a receiver
    that fails at times, for the chaos suite).
    """

    def __init__(
        self,
        statuses: Iterable[int] = (),
        *,
        default: int = 200,
        headers: dict[int, dict[str, str]] | None = None,
        fail_every: int = 0,
    ) -> None:
        self.requests: list[Received] = []
        self.hold = threading.Event()
        self.hold.set()
        self._script = list(statuses)
        self._default = default
        self._fail_every = fail_every
        self._unscripted = 0
        self._headers = headers or {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.hold.wait(30)
                with receiver._lock:
                    status = receiver._next_status()
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, status)
                    )
                self.send_response(status)
                for name, value in receiver._headers.get(status, {}).items():
                    self.send_header(name, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_GET(self) -> None:  # a followed redirect would land here
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), b"", 200))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _next_status(self) -> int:
        """Under the lock: the scripted status, else every ``fail_every``-th a 500, else ``default``."""
        if self._script:
            return self._script.pop(0)
        self._unscripted += 1
        if self._fail_every and self._unscripted % self._fail_every == 0:
            return 500
        return self._default

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in list(self.requests) if r.body and r.json.get("type") == event_type]

    def close(self) -> None:
        self.hold.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Trickler:
    """A receiver on 127.0.0.1 that answers every request one byte every ``interval`` seconds.

    It starts a status line and never ends its headers, so each read gets a byte well within any
    per-read timeout; it stops after ``bound_seconds`` (a bound for the test itself) or on close.
    """

    def __init__(self, *, interval: float = 0.2, bound_seconds: float = 60.0) -> None:
        import socket
        import time

        self._interval, self._bound = interval, bound_seconds
        self._stop = threading.Event()
        self._time = time
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self._server.settimeout(0.1)
        self.connections = 0
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}/hook"
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: Any) -> None:
        ends = self._time.monotonic() + self._bound
        with conn:
            conn.settimeout(1.0)
            try:
                conn.recv(65536)  # the request (small)
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
                    if self._stop.wait(self._interval) or self._time.monotonic() > ends:
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return  # the client gave up and closed the connection

    def __enter__(self) -> Trickler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._server.close()
