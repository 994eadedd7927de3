"""Edit-studio fixtures: the embedded stack with the edit/upscale workers, with or without simulated providers."""

from __future__ import annotations

from edit_support import local_studio, studio

__all__ = ["local_studio", "studio"]
