"""The template catalogue's answers as models (``GET /templates`` and the routes below it).

The studios' catalogue models live in their rooms (``studios/<name>/catalogue.py``, the shared parts
in ``studios/common/catalogue.py``); the templates are create's material, served by their own routes.
"""

from __future__ import annotations

from imagestudio.studios.common.catalogue import CatalogueRead


class TemplateRead(CatalogueRead):
    """``GET /templates/{template_id}``: one template."""

    id: str
    name: str
    platform: str
    category: str
    width: int
    height: int
    aspect_ratio: str
    description: str
    style_preset: str | None
    style_recommendations: list[str]
    suggested_providers: list[str]
    quality: str
    use_cases: list[str]
    tags: list[str]


class TemplateMatchRead(TemplateRead):
    """A template found by a search or a recommendation, with its score and why."""

    score: float
    reasons: list[str]


class TemplateList(CatalogueRead):
    """``GET /templates``."""

    count: int
    templates: list[TemplateRead]


class TemplateSearchResults(CatalogueRead):
    """``GET /templates/search``."""

    query: str
    count: int
    results: list[TemplateMatchRead]


class TemplateRecommendations(CatalogueRead):
    """``GET /templates/recommend``."""

    count: int
    results: list[TemplateMatchRead]
