"""Which failures are worth another try, and how long to wait before it.

A transient error says "not now": the database or Redis is unreachable, a lock was not granted
in time, a transaction lost a race. Anything else says "never" (PermanentActionError) or is a
bug, and retrying would only repeat it.
"""

from __future__ import annotations

import random
import re

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# PostgreSQL SQLSTATE classes that mean "try again": connection exception (08), transaction
# rollback (40: serialization failure, deadlock), insufficient resources (53), operator
# intervention (57: admin shutdown, cannot connect now, statement cancelled), system error (58).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
# lock_not_available (lock_timeout), and "database is not accepting connections" (55000).
_TRANSIENT_SQLSTATES = frozenset({"55P03", "55000"})

_WRAPPED_CLASS = re.compile(r"^<class '(?:[\w.]+\.)?(\w+)'>")

_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    OperationalError,  # SQLite "database is locked", a dropped connection
    InterfaceError,  # "connection is closed"
    IntegrityError,  # a concurrent writer won a unique index; the next try sees its row
    PoolTimeout,
    TimeoutError,
    OSError,  # connection refused or reset, before any driver wraps it
    RedisError,
)


def _sqlstate(exc: DBAPIError) -> str | None:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def is_transient(exc: BaseException) -> bool:
    """Whether a later try may succeed where this one failed."""
    if isinstance(exc, _TRANSIENT_TYPES):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        code = _sqlstate(exc)
        return code is not None and (
            code in _TRANSIENT_SQLSTATES or code[:2] in _TRANSIENT_SQLSTATE_CLASSES
        )
    return False


def describe(exc: BaseException) -> str:
    """One line naming the error, for an action's `error` and the log."""
    # SQLAlchemy's own text leads with advice (autoflush, a docs link); the driver's says it.
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = next((line.strip() for line in str(cause).splitlines() if line.strip()), "")
    # asyncpg's errors come wrapped as "<class 'asyncpg.exceptions.X'>: message".
    named, wrapped = _WRAPPED_CLASS.subn(r"\1", text, count=1)
    if not wrapped:
        named = f"{type(cause).__name__}: {text}" if text else type(cause).__name__
    return named[:500]


def backoff_seconds(tries: int, base: float, cap: float) -> float:
    """About base * 2^(tries - 1), at most cap, with jitter so that retries do not stampede."""
    ceiling = min(cap, base * 2.0 ** max(tries - 1, 0))
    jitter: float = random.uniform(0.5, 1.0)
    return ceiling * jitter
