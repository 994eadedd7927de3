"""What smart crop found in recent sources, kept per worker so a plan redrawn for the same image is fast.

The console redraws a plan (``POST /social/plan``) as the user changes formats or the focal point;
each plan decodes the image and looks for faces again (0.1-1 s) though nothing about the image
changed. The analysis (``imaging.crop.CropAnalysis``: face and subject boxes, a 256-px copy for the
attention model) is a few kilobytes, so a worker keeps the last ones it made, keyed by the tenant
and the SHA-256 of the very bytes the job read and checked: identical bytes decode identically,
and an upload's bytes never change (a presigned upload is copied to a key no link writes). The
tenant is in the key so one tenant's image never answers, even in timing, another's.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Final

from imagestudio.imaging.crop import CropAnalysis

__all__ = ["ANALYSES_KEPT", "analysis_key", "forget_all", "recall", "remember"]

#: Analyses a worker keeps, least recently used dropped first (each a few boxes and at most a
#: 256x256 copy: under 200 KB).
ANALYSES_KEPT: Final = 32

_lock = threading.Lock()
_analyses: OrderedDict[tuple[str, str], CropAnalysis] = OrderedDict()


def analysis_key(tenant_id: str, data: bytes) -> tuple[str, str]:
    """The cache key of one input: its tenant and the SHA-256 of its bytes."""
    return tenant_id, hashlib.sha256(data).hexdigest()


def recall(key: tuple[str, str]) -> CropAnalysis | None:
    """The analysis kept for ``key``, if any (then the most recently used)."""
    with _lock:
        found = _analyses.get(key)
        if found is not None:
            _analyses.move_to_end(key)
        return found


def remember(key: tuple[str, str], analysis: CropAnalysis) -> None:
    """Keep ``analysis`` for ``key``, dropping the least recently used past ``ANALYSES_KEPT``."""
    with _lock:
        _analyses[key] = analysis
        _analyses.move_to_end(key)
        while len(_analyses) > ANALYSES_KEPT:
            _analyses.popitem(last=False)


def forget_all() -> None:
    """Drop every kept analysis (tests and benchmarks timing a first plan)."""
    with _lock:
        _analyses.clear()
