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
    """Answers each POST with the next scripted status (then ``default``); ``hold`` blocks answers."""

    def __init__(
        self,
        statuses: Iterable[int] = (),
        *,
        default: int = 200,
        headers: dict[int, dict[str, str]] | None = None,
    ) -> None:
        self.requests: list[Received] = []
        self.hold = threading.Event()
        self.hold.set()
        self._script = list(statuses)
        self._default = default
        self._headers = headers or {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.hold.wait(30)
                with receiver._lock:
                    status = receiver._script.pop(0) if receiver._script else receiver._default
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
