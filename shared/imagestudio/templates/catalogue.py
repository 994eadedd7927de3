"""The create-studio template catalogue: platform, category, exact size and true aspect.

The records are data, in ``catalogue.toml`` beside this module (read by :mod:`imagestudio.records`).

The seed's 26 templates are all here, corrected: true aspect ratios computed from the size (the
seed labelled 820x312 "16:9" and 1128x191 "4:1"), the sizes the social optimizer uses for the
same formats (X post 1200x675, YouTube channel art 2560x1440), and suggested providers that are
real provider names (the seed's "ideogram" was not). ``ad_creative`` and ``product``, empty in the
seed, have templates of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from typing import Any

from imagestudio.providers.schemas import Quality
from imagestudio.records import load_records, read_data

__all__ = ["CATEGORIES", "PLATFORMS", "TEMPLATES", "Template", "aspect_label"]

_DATA = read_data(__package__, "catalogue.toml")
#: Categories a template belongs to (each has at least one template).
CATEGORIES: tuple[str, ...] = tuple(_DATA["categories"])
#: Platforms templates are made for; ``display`` is web display advertising, ``ecommerce`` shop listings.
PLATFORMS: tuple[str, ...] = tuple(_DATA["platforms"])


def aspect_label(width: int, height: int) -> str:
    """The true reduced ratio (``16:9``), or a decimal one (``1.91:1``) when the terms are large."""
    divisor = gcd(width, height)
    w, h = width // divisor, height // divisor
    if w <= 32 and h <= 32:
        return f"{w}:{h}"
    return f"{width / height:.2f}:1" if width >= height else f"1:{height / width:.2f}"


@dataclass(frozen=True)
class Template:
    """A ready-made brief: where the image goes, its exact size and how it should look."""

    id: str
    name: str
    platform: str
    category: str
    width: int
    height: int
    description: str
    #: The Stability-style preset the template starts from; the request may override it.
    style_preset: str
    quality: Quality
    #: Providers that do this kind of image well, best first (auto mode prefers them).
    suggested_providers: tuple[str, ...]
    #: Other presets that suit the template.
    style_recommendations: tuple[str, ...]
    use_cases: tuple[str, ...]
    tags: tuple[str, ...]
    #: Composition guidance prompt enhancement adds (framing, room for text).
    composition: str

    @property
    def aspect_ratio(self) -> str:
        return aspect_label(self.width, self.height)

    @property
    def ratio(self) -> float:
        return self.width / self.height

    def describe(self) -> dict[str, Any]:
        """What ``GET /templates`` shows: :data:`_DESCRIBED` in order, tuples as lists."""
        values = {name: getattr(self, name) for name in _DESCRIBED}
        return {name: list(value) if isinstance(value, tuple) else value for name, value in values.items()}


#: What a template's description shows, in order (its composition guidance is prompt enhancement's own).
_DESCRIBED = (
    "id", "name", "platform", "category", "width", "height", "aspect_ratio", "description", "style_preset",
    "style_recommendations", "suggested_providers", "quality", "use_cases", "tags",
)  # fmt: skip


def _row(row: dict[str, Any]) -> dict[str, Any]:
    """A ``[[template]]`` row with its named provider group and composition written out."""
    composition = row["composition"]
    return {
        **row,
        "suggested_providers": _DATA["providers"][row["suggested_providers"]],
        "style_recommendations": row.get("style_recommendations", [row["style_preset"]]),
        "composition": _DATA["compositions"].get(composition, composition),
    }


#: Template id -> template, in the file's order (``catalogue.toml``).
TEMPLATES: dict[str, Template] = load_records(Template, [_row(row) for row in _DATA["template"]])
