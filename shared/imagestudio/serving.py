"""How ``imagestudio up`` runs uvicorn: a cap on connections, keep-alive, and a deadline for a request's head.

uvicorn has no timeout for reading a request's headers: its keep-alive timer starts only after a
response and stops at the next byte, so a client that opens a connection and trickles header
lines (slowloris) holds it for ever, and enough of them exhaust the process's descriptors.
:class:`HeaderDeadlineProtocol` is uvicorn's httptools protocol with that deadline: from the
connection's start (or the next request's first byte) to the end of its headers, at most
``HTTP_HEADER_TIMEOUT_SECONDS``; past it the client gets a 408 and the connection is closed.
The body is not under this deadline (routes bound what they read; uploads may be slow).

uvicorn writes a response's head and its body to the socket in two calls, two segments and two
trips through the kernel's TCP path (on loopback the receiver's side too): a quarter of the
gateway's CPU per submission. :class:`HeadWithBody` holds the head until the body's first write
(in the same turn of the loop for a whole response) and sends them in one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from imagestudio.config import Settings, get_settings

_TOO_SLOW = b"The request's headers came too slowly."
#: What a client that was too slow sending its headers is told before the connection closes.
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TOO_SLOW), _TOO_SLOW)
)


#: How a response's head starts: the one write held back to go with the next.
_HEAD = b"HTTP/1.1 "


class HeadWithBody:
    """A connection's transport whose response head goes out with the write after it, in one call.

    The head is held until the next write, a ``close``/``write_eof``, or the loop's next turn
    (``call_soon``: a streamed response's head is not kept waiting for its first chunk), so the
    bytes leave in the order written. Everything else is the transport's own.
    """

    __slots__ = ("_transport", "_loop", "_head")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif data[:9] == _HEAD:
            self._head = bytes(data)
            self._loop.call_soon(self.flush_head)
        else:
            self._transport.write(data)

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(chunks))

    def flush_head(self) -> None:
        """Send a head still held (nothing followed it in the turn it was written)."""
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self.flush_head()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush_head()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


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
        super().connection_made(cast(asyncio.Transport, HeadWithBody(transport, self.loop)))
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
