"""What a log line is about: the request that caused it and the action it concerns.

Context variables, so that every line logged while handling a request, or while running an
action, carries them without being passed around. The request id comes from the caller's
`X-Request-ID` (or is made here), is stored with each action the request creates, and is bound
again by the worker that runs the action.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Final

REQUEST_ID_HEADER: Final = "x-request-id"
MAX_REQUEST_ID_LENGTH: Final = 128
# Printable, no spaces or quotes: safe in a header, a log line and a database column.
_ACCEPTED = re.compile(rf"[A-Za-z0-9._:/+=@-]{{1,{MAX_REQUEST_ID_LENGTH}}}")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_action_id: ContextVar[int | None] = ContextVar("action_id", default=None)


def new_request_id() -> str:
    # 128 random bits in hexadecimal, as uuid4().hex, without building a UUID.
    return os.urandom(16).hex()


def accept_request_id(header: str | None) -> str:
    """The caller's request id if it is a sensible one, else a new one."""
    if header is not None and _ACCEPTED.fullmatch(header):
        return header
    return new_request_id()


def current_request_id() -> str | None:
    return _request_id.get()


def current_action_id() -> int | None:
    return _action_id.get()


@contextlib.contextmanager
def bound(*, request_id: str | None = None, action_id: int | None = None) -> Iterator[None]:
    """Within the block, log lines carry these (a None leaves the current value)."""
    request_token = _request_id.set(request_id) if request_id is not None else None
    action_token = _action_id.set(action_id) if action_id is not None else None
    try:
        yield
    finally:
        if action_token is not None:
            _action_id.reset(action_token)
        if request_token is not None:
            _request_id.reset(request_token)
