"""The AMQP frames the relay's publisher writes and reads itself, beside pika's connection.

pika builds a ``basic.publish`` (its method, content header and body frames) from objects and
``isinstance`` checks per message, and reads each ``basic.ack`` through its I/O loop, frame
objects and callback registry: two thirds of the relay's CPU per message (``bench/README.md``,
"Issue 31, the relay: pika's frames"). Here the method frame and the header frame's bytes are
pika's own, marshalled once per queue and priority; a message adds its body size and body
frames (``tests/unit/outbox/test_frames.py`` holds them byte-equal to pika's
``Connection._send_message``). On the way in, the ``basic.ack`` and ``basic.nack`` frames of the
publishing channel are parsed here; every other frame (heartbeats, returns, a channel or
connection closing) is handed to pika, in the order received.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

#: type, channel, payload size: the 7 bytes before every frame's payload.
FRAME_HEAD = struct.Struct(">BHI")
FRAME_END = 0xCE
#: A body frame's head and end around its payload (type 3).
_BODY_HEAD = struct.Struct(">BHI")
_BODY_SIZE = struct.Struct(">Q")
#: basic.ack (class 60, method 80) and basic.nack (60, 120): delivery tag, then the flags byte.
_BASIC_ACK = b"\x00\x3c\x00\x50"
_BASIC_NACK = b"\x00\x3c\x00\x78"
_CONFIRM = struct.Struct(">QB")
#: A confirm's payload: class and method (4 bytes), delivery tag (8), flags (1).
_CONFIRM_SIZE = 13
#: Where the body size sits in a content header frame (after the frame's head, class and weight).
_HEADER_BODY_SIZE_AT = FRAME_HEAD.size + 4


class PublishFrames:
    """``basic.publish`` frames on one channel: ``exchange=""``, ``mandatory``, persistent, the
    routing key a queue's name, with or without a broker priority."""

    def __init__(self, channel_number: int, body_max: int) -> None:
        self._channel = channel_number
        #: The most body bytes one frame carries (the negotiated frame_max less head and end).
        self._body_max = body_max
        #: (queue, priority) → (method frame + header frame up to the body size, the header's rest).
        self._templates: dict[tuple[str, int | None], tuple[bytes, bytes]] = {}

    def _template(self, queue: str, priority: int | None) -> tuple[bytes, bytes]:
        import pika
        from pika import frame

        key = (queue, priority)
        template = self._templates.get(key)
        if template is None:
            method = frame.Method(
                self._channel, pika.spec.Basic.Publish(exchange="", routing_key=queue, mandatory=True)
            ).marshal()
            properties = pika.BasicProperties(delivery_mode=2, priority=priority)
            header = frame.Header(self._channel, 0, properties).marshal()
            at = _HEADER_BODY_SIZE_AT
            template = self._templates[key] = (
                method + header[:at],
                header[at + _BODY_SIZE.size :],
            )
        return template

    def message(self, queue: str, priority: int | None, body: bytes, out: list[bytes]) -> None:
        """Append one message's frames to ``out`` (pika's order: method, header, body frames)."""
        before, after = self._template(queue, priority)
        size = len(body)
        out += (before, _BODY_SIZE.pack(size), after)
        step, channel = self._body_max, self._channel
        for start in range(0, size, step):
            chunk = body[start : start + step]
            out += (_BODY_HEAD.pack(3, channel, len(chunk)), chunk, b"\xce")


def read_confirms(
    buffer: bytes,
    channel_number: int,
    confirmed: Callable[[int, bool, bool], object],
    other: Callable[[bytes], None],
) -> tuple[int, int]:
    """Walk the whole frames at the start of ``buffer``: each ``basic.ack``/``basic.nack`` of
    ``channel_number`` to ``confirmed(delivery_tag, multiple, nack)``, runs of any other frames to
    ``other`` (in order: a return is handed on before the confirm that follows it).

    Returns how many bytes were whole frames (the rest is the start of a frame still arriving)
    and how many of them were confirms read here."""
    end, mine, run = len(buffer), 0, -1
    at = 0
    unpack_head, unpack_confirm = FRAME_HEAD.unpack_from, _CONFIRM.unpack_from
    while end - at >= FRAME_HEAD.size:
        kind, channel, size = unpack_head(buffer, at)
        stop = at + FRAME_HEAD.size + size + 1
        if stop > end:
            break
        payload = at + FRAME_HEAD.size
        if (
            kind == 1
            and channel == channel_number
            and size == _CONFIRM_SIZE
            and buffer[stop - 1] == FRAME_END
            and buffer[payload : payload + 4] in (_BASIC_ACK, _BASIC_NACK)
        ):
            if run >= 0:
                other(buffer[run:at])
                run = -1
            tag, flags = unpack_confirm(buffer, payload + 4)
            confirmed(tag, bool(flags & 1), buffer[payload + 3] == 0x78)
            mine += stop - at
        elif run < 0:
            run = at
        at = stop
    if run >= 0:
        other(buffer[run:at])
    return at, mine
