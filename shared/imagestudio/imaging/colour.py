"""Colours as requests spell them: ``#rrggbb``, parsed here for every studio, and colours named in a prompt."""

from __future__ import annotations

import re
from typing import Final

from PIL import ImageColor

from imagestudio.errors import ValidationFailed

__all__ = ["colour_in", "hex_rgb", "is_hex_colour", "parse_hex"]

#: A whole ``#rrggbb`` value.
_HEX: Final = re.compile(r"#([0-9a-fA-F]{6})")
#: ``#rrggbb`` anywhere in a text.
_HEX_IN_TEXT: Final = re.compile(r"#([0-9a-fA-F]{6})\b")


def hex_rgb(value: str) -> tuple[int, int, int] | None:
    """``#rrggbb`` (surrounding space ignored) as an RGB triple; None when ``value`` is not one."""
    match = _HEX.fullmatch(value.strip())
    if match is None:
        return None
    rgb = int(match.group(1), 16)
    return (rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF


def parse_hex(value: str, *, field: str) -> tuple[int, int, int]:
    """``#rrggbb`` as an RGB triple, or ``ValidationFailed`` naming ``field``."""
    rgb = hex_rgb(value)
    if rgb is None:
        raise ValidationFailed(field, f'must be a colour such as "#1e90ff", got {value!r}')
    return rgb


def is_hex_colour(value: str) -> bool:
    """Whether ``value`` is a ``#rrggbb`` colour."""
    return hex_rgb(value) is not None


def colour_in(text: str | None) -> str | None:
    """The colour a text names, as ``#rrggbb``: a hex code, or a CSS colour name (one or two words)."""
    if not text:
        return None
    match = _HEX_IN_TEXT.search(text)
    if match:
        return "#" + match.group(1).lower()
    words = re.findall(r"[a-z]+", text.lower())
    for size in (2, 1):  # "dark blue" before "blue"
        for start in range(len(words) - size + 1):
            name = "".join(words[start : start + size])
            if name in ImageColor.colormap:
                red, green, blue = ImageColor.getrgb(name)[:3]
                return f"#{red:02x}{green:02x}{blue:02x}"
    return None
