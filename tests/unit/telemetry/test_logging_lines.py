"""The JSON log line: the same bytes whether written without a record or through stdlib logging."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from imagestudio.telemetry import logging as telemetry_logging
from imagestudio.telemetry.logging import configure_logging, get_logger

#: A fixed time, so both paths stamp the same second.
NOW = 1_796_000_000.25


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The process's logging as ``configure_logging`` sets it, writing to a buffer; restored after."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    monkeypatch.setattr(time, "time", lambda: NOW)
    monkeypatch.setattr(time, "time_ns", lambda: int(NOW * 1e9))
    buffer = io.StringIO()
    monkeypatch.setattr("sys.stderr", buffer)
    configure_logging()
    try:
        yield buffer
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def _json_handler_alone() -> None:
    """Take pytest's capturing handlers off the root for this test: the process as it runs."""
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if type(h) is telemetry_logging._JsonHandler]


class _Pass(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return True


def _through_records(name: str, event: str, **fields: Any) -> None:
    """The same call, made to take stdlib logging's record path (a logger with a filter)."""
    logger = logging.getLogger(name)
    passing = _Pass()
    logger.addFilter(passing)
    try:
        get_logger(name).info(event, **fields)
    finally:
        logger.removeFilter(passing)


FIELDS: list[dict[str, Any]] = [
    {"job_id": "j-1", "tenant_id": "t-1", "studio": "social"},
    {"day": date(2026, 12, 8), "note": "café ✓", "n": 3, "ok": True, "none": None},
    {"ts": "overridden in place", "level": "also", "extra": [1, 2]},
    {},
]


@pytest.mark.parametrize("fields", FIELDS)
def test_line_without_a_record_is_the_formatters_line(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any]
) -> None:
    _json_handler_alone()
    get_logger("imagestudio.jobs.service").info("job.accepted", **fields)
    _through_records("imagestudio.jobs.service", "job.accepted", **fields)
    fast, recorded = stream.getvalue().splitlines()
    assert fast == recorded
    body = json.loads(fast)
    assert body["logger"] == "imagestudio.jobs.service"
    if "ts" not in fields:
        assert body["ts"] == time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(NOW))


def test_configured_process_logs_without_making_a_record(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_record(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a LogRecord was made")

    _json_handler_alone()
    monkeypatch.setattr(logging.Logger, "log", no_record)
    get_logger("imagestudio.jobs.service").info("job.accepted", job_id="j-2")
    assert json.loads(stream.getvalue())["job_id"] == "j-2"


def test_another_handler_still_gets_the_record(stream: io.StringIO, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        get_logger("imagestudio.jobs.service").info("job.accepted", job_id="j-3")
    [record] = [r for r in caplog.records if r.getMessage() == "job.accepted"]
    assert record.fields == {"job_id": "j-3"}  # type: ignore[attr-defined]
    assert json.loads(stream.getvalue())["job_id"] == "j-3"


def test_level_below_the_roots_is_not_written(stream: io.StringIO) -> None:
    _json_handler_alone()
    get_logger("imagestudio.jobs.service").debug("job.noise", job_id="j-4")
    assert stream.getvalue() == ""


def test_exception_line_keeps_the_traceback(stream: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger("imagestudio.jobs.service").exception("job.failed", job_id="j-5")
    body = json.loads(stream.getvalue())
    assert body["level"] == "error" and body["job_id"] == "j-5"
    assert "ValueError: boom" in body["exc"]


def test_timestamps_change_with_the_second() -> None:
    stamps = telemetry_logging._Timestamps()
    assert stamps.of(NOW) == time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(NOW))
    assert stamps.of(NOW + 1) == time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(NOW + 1))
