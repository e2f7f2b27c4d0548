"""Handing memory back to the system after a crowd has gone (subscribers, mostly).

CPython frees its objects into its own arenas and glibc's heap, which keep the pages: after
ten thousand WebSockets close, the process would stay at its peak size. A full collection
frees what only cycles held, and glibc's malloc_trim returns the free pages it can.

Only pages wholly free can go back. CPython's own allocator (pymalloc) hands out 1 MiB arenas
and frees one only when no object in it lives: the few objects made amid a crowd that outlive
it (a cache entry, a log line) pin nearly every arena the crowd used, and a process that held
10,000 subscribers stays at 3-4 times its size once they have gone. glibc's malloc, trimmed,
gives back every free 4 KiB page, so the server runs on it (`serve_on_system_allocator`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import sys
from collections.abc import Callable
from functools import cache
from typing import Final

log = logging.getLogger(__name__)

ALLOCATOR: Final = "PYTHONMALLOC"


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


def release_free_memory() -> int:
    """Collect, then trim; how many objects the collection found in reference cycles."""
    in_cycles = gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    return in_cycles


def serve_on_system_allocator() -> None:
    """Run this command again, as it was given, on glibc's malloc: from here, never returns.

    It does nothing where PYTHONMALLOC already says which allocator to use (so
    PYTHONMALLOC=pymalloc keeps CPython's own), or where there is no malloc_trim to return
    pages with. The allocator is chosen as the interpreter starts, so it takes a new one; the
    process keeps its id, its arguments and its open files.
    """
    if ALLOCATOR in os.environ or _malloc_trim() is None or not sys.executable:
        return
    environment = {**os.environ, ALLOCATOR: "malloc"}
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)
