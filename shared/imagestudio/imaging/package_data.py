"""Model files shipped inside an installed package, found without importing it.

The learned models (U²-Net-p for the cut-out, MTCNN for faces) come as data inside PyPI packages
whose own code is never run: one needs Pillow < 13, the other an OpenCV with a GUI. So their folder
is looked up through the import system's spec, not by importing them; nothing downloads at run time.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

__all__ = ["installed_folder"]


def installed_folder(package: str, files: Sequence[str]) -> Path | None:
    """The installed folder of ``package`` holding every one of ``files``; None when there is none."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        if all((Path(folder) / name).is_file() for name in files):
            return Path(folder)
    return None
