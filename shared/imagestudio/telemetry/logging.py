"""Structured logging: ``log.info("job.completed", job_id=...)`` prints one JSON line.

Every line goes through stdlib logging (levels, handlers, pytest's ``caplog``), except when the
process's logging is exactly what :func:`configure_logging` set up: then :class:`EventLogger`
writes the line that handler would have written, without a ``LogRecord`` (the caller's frame
found, the thread and process named) or the formatter's ``strftime`` per line. The line is the
same bytes either way; the gateway logs ``job.accepted`` once per submission, and the record's
making was 5 % of its CPU per job.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

#: ``json.dumps(body, default=str)``'s encoder, made once (``dumps`` builds one per call when it
#: is given any option).
_ENCODER = json.JSONEncoder(default=str)
#: The line's time, to the second, in the server's local time (``Formatter.formatTime``'s).
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S"


class _Timestamps:
    """``formatTime(record, _TS_FORMAT)`` for a time, its ``strftime`` done once per second."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[int, str] = (-1, "")  # one tuple: threads read the second and its text together

    def of(self, created: float) -> str:
        second = int(created)
        last = self._last
        if last[0] != second:
            last = self._last = (second, time.strftime(_TS_FORMAT, time.localtime(second)))
        return last[1]


def _line(ts: str, level: str, logger: str, event: str, fields: dict[str, Any]) -> str:
    """The JSON line: time, level, logger and event first, then the fields (which may override)."""
    body: dict[str, Any] = {"ts": ts, "level": level, "logger": logger, "event": event}
    body.update(fields)
    return _ENCODER.encode(body)


class _JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self.timestamps = _Timestamps()

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = dict(getattr(record, "fields", {}))
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return _line(
            self.timestamps.of(record.created),
            record.levelname.lower(),
            record.name,
            record.getMessage(),
            fields,
        )


class _JsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` installs: JSON lines on stderr."""

    def write_line(self, level: int, logger: str, event: str, fields: dict[str, Any]) -> None:
        """What ``handle`` of a record of these values writes, without the record."""
        formatter = self.formatter
        assert isinstance(formatter, _JsonFormatter)
        line = _line(formatter.timestamps.of(time.time()), _LEVEL_NAMES[level], logger, event, fields)
        with self.lock:  # type: ignore[union-attr]
            try:
                self.stream.write(line + self.terminator)
                self.flush()
            except Exception:
                self.handleError(logging.makeLogRecord({"name": logger, "msg": event, "levelno": level}))


_LEVEL_NAMES = {
    level: logging.getLevelName(level).lower()
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
}


def _sole_json_handler(logger: logging.Logger, level: int) -> _JsonHandler | None:
    """The configured JSON handler when it is the only place a record of ``level`` would go (no
    filter, no other handler on the way to the root), else None: the record's path is then taken."""
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters or current.disabled or not current.propagate and current.parent is not None:
            return None
        if current.parent is None:  # the root
            handlers = current.handlers
            if len(handlers) != 1:
                return None
            handler = handlers[0]
            if type(handler) is not _JsonHandler or handler.filters or level < handler.level:
                return None
            if type(handler.formatter) is not _JsonFormatter:
                return None
            return handler
        if current.handlers:
            return None
        current = current.parent
    return None


class EventLogger:
    """A thin wrapper giving stdlib logging keyword fields."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def _log(self, level: int, event: str, exc_info: bool, fields: dict[str, Any]) -> None:
        logger = self._logger
        if not logger.isEnabledFor(level):
            return
        if not exc_info and (handler := _sole_json_handler(logger, level)) is not None:
            handler.write_line(level, logger.name, event, fields)
            return
        logger.log(level, event, extra={"fields": fields}, exc_info=exc_info)

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, False, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, False, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, False, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, False, fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, True, fields)


def get_logger(name: str) -> EventLogger:
    return EventLogger(name)


def configure_logging(level: str = "INFO") -> None:
    handler = _JsonHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pika logs every reconnect at INFO; keep operators' logs readable.
    logging.getLogger("pika").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
