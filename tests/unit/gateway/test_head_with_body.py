"""A response's head leaves with the write after it, in one call to the socket, and never late."""

from __future__ import annotations

import asyncio
from typing import Any

from imagestudio.serving import HeadWithBody

HEAD = b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n"


class _Transport:
    """Records what reaches the socket."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.eof = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def write_eof(self) -> None:
        self.eof = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name == "sockname" else default


def _run(steps: Any) -> _Transport:
    raw = _Transport()

    async def main() -> None:
        await steps(HeadWithBody(raw, asyncio.get_running_loop()))  # type: ignore[arg-type]

    asyncio.run(main())
    return raw


def test_head_and_body_leave_in_one_write() -> None:
    async def steps(transport: HeadWithBody) -> None:
        transport.write(HEAD)
        transport.write(b"{}")

    assert _run(steps).writes == [HEAD + b"{}"]


def test_a_head_alone_leaves_on_the_loops_next_turn() -> None:
    seen: list[list[bytes]] = []

    async def steps(transport: HeadWithBody) -> None:
        raw: Any = transport._transport
        transport.write(HEAD)
        seen.append(list(raw.writes))  # held for now
        await asyncio.sleep(0)
        seen.append(list(raw.writes))  # a streamed response's first chunk is not waited for
        transport.write(b"chunk")

    assert _run(steps).writes == [HEAD, b"chunk"]
    assert seen == [[], [HEAD]]


def test_close_and_eof_send_a_held_head_first() -> None:
    async def closing(transport: HeadWithBody) -> None:
        transport.write(HEAD)
        transport.close()
        await asyncio.sleep(0)  # the scheduled flush finds nothing left, and a closed socket

    raw = _run(closing)
    assert raw.writes == [HEAD] and raw.closed

    async def ending(transport: HeadWithBody) -> None:
        transport.write(HEAD)
        transport.write_eof()

    raw = _run(ending)
    assert raw.writes == [HEAD] and raw.eof


def test_writelines_keeps_the_order() -> None:
    async def steps(transport: HeadWithBody) -> None:
        transport.write(HEAD)
        transport.writelines([b"{", b"}"])

    assert _run(steps).writes == [HEAD + b"{}"]


def test_other_writes_pass_at_once_and_the_rest_is_the_transports() -> None:
    async def steps(transport: HeadWithBody) -> None:
        transport.write(b"0\r\n\r\n")
        assert transport.get_extra_info("sockname") == ("127.0.0.1", 8000)

    assert _run(steps).writes == [b"0\r\n\r\n"]
