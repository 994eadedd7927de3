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
from collections.abc import Hashable
from typing import Any, Final

from imagestudio.imaging.crop import CropAnalysis

__all__ = ["ANALYSES_KEPT", "PLANS_KEPT", "analysis_key", "forget_all", "plans_of", "recall", "remember"]

#: Analyses a worker keeps, least recently used dropped first (each a few boxes and at most a
#: 256x256 copy: under 200 KB).
ANALYSES_KEPT: Final = 32

#: Format plans kept per analysis: a redraw re-plans only the formats (or focal point) it changed.
#: A plan is a few hundred bytes; past this many (a focal point dragged about) they start over.
PLANS_KEPT: Final = 256

_lock = threading.Lock()
_analyses: OrderedDict[tuple[str, str], CropAnalysis] = OrderedDict()
_plans: dict[tuple[str, str], dict[Hashable, Any]] = {}


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
        _plans.pop(key, None)  # planned from another analysis of the same bytes (another copy size)
        while len(_analyses) > ANALYSES_KEPT:
            dropped, _ = _analyses.popitem(last=False)
            _plans.pop(dropped, None)


def plans_of(key: tuple[str, str]) -> dict[Hashable, Any]:
    """The plans made from ``key``'s kept analysis, by what decides a plan (``studios.social.plan_formats``).

    A plan is a pure function of the analysis and the format's size, safe zone, mode, focal point and
    zoom bound, so a kept one is the one planning again would make. Emptied when it reaches
    ``PLANS_KEPT`` or the analysis is replaced or dropped; a new empty one, kept nowhere, when no
    analysis is kept for ``key``.
    """
    with _lock:
        if key not in _analyses:
            return {}
        plans = _plans.setdefault(key, {})
        if len(plans) >= PLANS_KEPT:
            plans.clear()
        return plans


def forget_all() -> None:
    """Drop every kept analysis (tests and benchmarks timing a first plan)."""
    with _lock:
        _analyses.clear()
        _plans.clear()
