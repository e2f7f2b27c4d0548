"""Which failures are worth another try, and how long to wait before it.

A transient error says "not now": the database or Redis is unreachable, a lock was not granted
in time, a transaction lost a race. Anything else says "never" (PermanentActionError) or is a
bug, and retrying would only repeat it.
"""

from __future__ import annotations

import random

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# PostgreSQL SQLSTATE classes that mean "try again": connection exception (08), transaction
# rollback (40: serialization failure, deadlock), insufficient resources (53), operator
# intervention (57: admin shutdown, cannot connect now, statement cancelled), system error (58).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
# lock_not_available (lock_timeout), and "database is not accepting connections" (55000).
_TRANSIENT_SQLSTATES = frozenset({"55P03", "55000"})

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
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    # SQLAlchemy appends a link to its docs on a separate line; the first line says it all.
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


def backoff_seconds(tries: int, base: float, cap: float) -> float:
    """About base * 2^(tries - 1), at most cap, with jitter so that retries do not stampede."""
    ceiling = min(cap, base * 2.0 ** max(tries - 1, 0))
    jitter: float = random.uniform(0.5, 1.0)
    return ceiling * jitter
