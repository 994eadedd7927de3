"""Handing memory the render loop freed back to the system, so a worker's peak is one output's, not their sum."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import lru_cache

__all__ = ["release_freed_memory"]


def release_freed_memory() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; nothing elsewhere).

    Why: libvips runs each output's pipeline on worker threads, and glibc gives threads arenas of
    their own, so what one output's encode freed (a 2560x1440 progressive 4:4:4 JPEG holds 22 MB of
    coefficients) is often not reused by the next output's threads: without this, 24 MP to 31
    formats climbs to 307-311 MB; trimmed after each output, 281-282 MB (bench/README.md, issue 29).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on a C library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim  # type: ignore[no-any-return]
