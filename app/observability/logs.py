"""Logging for every command: JSON lines for machines, or plain lines for a person at `dev`.

Each line carries the request id and action id bound in `app.observability.context`, so the
gateway's line for a request and the worker's lines for the action it created share an id.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

from app.observability.context import current_action_id, current_request_id

LogFormat = Literal["json", "text"]

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName", "request_id", "action_id", "context", "color_message"}

# uvicorn's access log passes these as the arguments of its message.
_ACCESS_FIELDS: Final = ("client", "method", "path", "http_version", "status")


class ContextFilter(logging.Filter):
    """Puts the bound request and action ids on each record (for both formats)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id, action_id = current_request_id(), current_action_id()
        record.request_id = request_id
        record.action_id = action_id
        ids = [
            f"{name}={value}"
            for name, value in (("request", request_id), ("action", action_id))
            if value is not None
        ]
        record.context = f" [{' '.join(ids)}]" if ids else ""
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "action_id"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            entry.update(zip(_ACCESS_FIELDS, record.args, strict=False))
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"


def configure_logging(log_format: LogFormat, level: str = "INFO") -> None:
    """Send every logger, uvicorn's and arq's included, through one handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(
        JSONFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Alembic reports each plugin it loads at INFO; only its warnings matter.
    logging.getLogger("alembic").setLevel(logging.WARNING)
