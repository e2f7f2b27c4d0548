"""Handing memory back to the system after a crowd has gone (subscribers, mostly).

CPython frees its objects into its own arenas and glibc's heap, which keep the pages: after
ten thousand WebSockets close, the process would stay at its peak size. A full collection
frees what only cycles held, and glibc's malloc_trim returns the free pages it can.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable
from functools import cache

log = logging.getLogger(__name__)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None elsewhere (musl, macOS): there the collection must do."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_free_memory() -> None:
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
