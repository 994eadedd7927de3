"""How the in-process benchmarks time a call: the median of a bounded number of runs after one
warm-up (imports, OpenCV and libvips thread pools and codec modules load on the first call)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(call: Callable[[], object], rounds: int) -> float:
    """The median wall time of ``rounds`` calls of ``call``, after one call not counted."""
    call()
    runs = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)
