"""The running service the SDK tests talk to: its URL, a key, and a folder for test images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from support import make_image


@dataclass(frozen=True)
class Service:
    url: str
    key: str
    folder: Path

    def photo(self, name: str = "photo.png", width: int = 640, height: int = 480) -> Path:
        path = self.folder / name
        if not path.exists():
            path.write_bytes(make_image(width, height))
        return path
