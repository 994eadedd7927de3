"""The relay's own AMQP frames: byte-equal to pika's, and confirms read in order with the rest."""

from __future__ import annotations

import struct
from typing import Any

import pika
import pytest
from pika import frame
from pika.connection import Connection

from imagestudio.outbox.frames import PublishFrames, read_confirms

BODY_MAX = 131072 - 8  # RabbitMQ's default frame_max less a frame's head and end


class _Wire:
    """Stands in for pika's connection in its own ``_send_message``: records the frames."""

    def __init__(self, body_max: int) -> None:
        self._body_max_length = body_max
        self.frames: list[bytes] = []

    def _output_marshaled_frames(self, frames: list[bytes]) -> None:
        self.frames.extend(frames)


def pika_publish(channel: int, body_max: int, queue: str, priority: int | None, body: bytes) -> bytes:
    """What pika writes for ``basic_publish`` as the relay called it before (its own code path)."""
    wire = _Wire(body_max)
    method = pika.spec.Basic.Publish(exchange="", routing_key=queue, mandatory=True)
    properties = pika.BasicProperties(delivery_mode=2, priority=priority)
    Connection._send_message(wire, channel, method, (properties, body))  # type: ignore[arg-type]
    return b"".join(wire.frames)


@pytest.mark.parametrize("priority", [None, 0, 9])
@pytest.mark.parametrize("size", [0, 1, 300, 32, 3 * 32 + 5])
def test_publish_frames_are_byte_equal_to_pikas(priority: int | None, size: int) -> None:
    body_max = 32 if size > 300 or size == 32 else BODY_MAX  # several body frames with a small frame_max
    frames = PublishFrames(7, body_max)
    body = bytes(range(256)) * (size // 256 + 1)
    out: list[bytes] = []
    for queue in ("social", "edit.DQ", "social"):  # a template reused, another queue's built
        frames.message(queue, priority, body[:size], out)
    expected = b"".join(
        pika_publish(7, body_max, queue, priority, body[:size]) for queue in ("social", "edit.DQ", "social")
    )
    assert b"".join(out) == expected


def _method(channel: int, method: Any) -> bytes:
    return frame.Method(channel, method).marshal()


def test_confirms_are_read_and_every_other_frame_handed_on_in_order() -> None:
    events: list[Any] = []
    ret = _method(
        1, pika.spec.Basic.Return(reply_code=312, reply_text="NO_ROUTE", exchange="", routing_key="q")
    )
    header = frame.Header(1, 2, pika.BasicProperties(delivery_mode=2)).marshal()
    body = frame.Body(1, b"{}").marshal()
    heartbeat = frame.Heartbeat().marshal()
    stream = b"".join(
        [
            _method(1, pika.spec.Basic.Ack(delivery_tag=3, multiple=False)),
            ret,
            header,
            body,  # a return: handed on before the confirm that follows it
            _method(1, pika.spec.Basic.Nack(delivery_tag=5, multiple=True, requeue=False)),
            _method(2, pika.spec.Basic.Ack(delivery_tag=9)),  # another channel's: not ours
            heartbeat,
            _method(1, pika.spec.Basic.Ack(delivery_tag=2**40 + 1, multiple=True)),
        ]
    )
    partial = _method(1, pika.spec.Basic.Ack(delivery_tag=6))[:10]
    whole, mine = read_confirms(
        stream + partial,
        1,
        lambda tag, multiple, nack: events.append(("confirm", tag, multiple, nack)),
        lambda data: events.append(("other", data)),
    )
    assert whole == len(stream)  # the frame still arriving is left for the next read
    assert mine == 3 * 21  # three confirm frames of 7 + 13 + 1 bytes
    assert events == [
        ("confirm", 3, False, False),
        ("other", ret + header + body),
        ("confirm", 5, True, True),
        ("other", _method(2, pika.spec.Basic.Ack(delivery_tag=9)) + heartbeat),
        ("confirm", 2**40 + 1, True, False),
    ]


def test_a_frame_not_ended_by_0xce_is_left_to_pika() -> None:
    ack = bytearray(_method(1, pika.spec.Basic.Ack(delivery_tag=3)))
    ack[-1] = 0
    others: list[bytes] = []
    whole, mine = read_confirms(bytes(ack), 1, lambda *_: pytest.fail("parsed a broken frame"), others.append)
    assert (whole, mine, others) == (len(ack), 0, [bytes(ack)])
    assert struct.unpack(">BHI", bytes(ack[:7])) == (1, 1, 13)
