"""How ``imagestudio up`` runs uvicorn: a cap on connections, keep-alive, and a deadline for a request's head.

uvicorn has no timeout for reading a request's headers: its keep-alive timer starts only after a
response and stops at the next byte, so a client that opens a connection and trickles header
lines (slowloris) holds it for ever, and enough of them exhaust the process's descriptors.
:class:`HeaderDeadlineProtocol` is uvicorn's httptools protocol with that deadline: from the
connection's start (or the next request's first byte) to the end of its headers, at most
``HTTP_HEADER_TIMEOUT_SECONDS``; past it the client gets a 408 and the connection is closed.
The body is not under this deadline (routes bound what they read; uploads may be slow).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from imagestudio.config import Settings, get_settings

_TOO_SLOW = b"The request's headers came too slowly."
#: What a client that was too slow sending its headers is told before the connection closes.
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TOO_SLOW), _TOO_SLOW)
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request head takes too long."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = get_settings().http_header_timeout_seconds
        self._header_deadline: asyncio.TimerHandle | None = None

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(REQUEST_TIMEOUT)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_deadline()  # a kept-alive connection's next request: from its first byte

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)


def server_config(app_factory: Callable[[], Any], settings: Settings | None = None) -> uvicorn.Config:
    """The gateway's uvicorn configuration, from the HTTP settings."""
    settings = settings or get_settings()
    return uvicorn.Config(
        app_factory,
        factory=True,
        log_level="warning",
        http=HeaderDeadlineProtocol,
        limit_concurrency=settings.http_limit_concurrency or None,
        timeout_keep_alive=settings.http_keep_alive_seconds,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
