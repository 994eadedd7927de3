"""Finding templates: filter, ranked text search and recommendation; the catalogue is data in ``catalogue``.

Search ranks by where the words are found: a word in the name outweighs one in the tags, which
outweighs one in the description or use cases; a whole-query match in the name adds a bonus,
and a word that only starts a longer word counts half. Ties keep the catalogue's order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from imagestudio.errors import NotFound, ValidationFailed
from imagestudio.templates.catalogue import CATEGORIES, PLATFORMS, TEMPLATES, Template

__all__ = ["INTENTS", "Match", "TemplateService", "template_service"]

#: Where a query word is found -> its weight.
_WEIGHTS = {
    "name": 4.0,
    "id": 3.0,
    "tags": 3.0,
    "platform": 2.0,
    "category": 2.0,
    "use_cases": 1.5,
    "description": 1.0,
}
#: Bonus when the whole query appears in the name.
_PHRASE_BONUS = 5.0
_WORD_RE = re.compile(r"[a-z0-9]+")
#: Words too common to rank by.
_STOP = frozenset(
    {"a", "an", "and", "for", "the", "of", "on", "in", "to", "with", "my", "our", "image", "picture"}
)

#: Marketing intent -> the tags and categories that serve it (recommendation).
INTENTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "awareness": (frozenset({"brand", "banner", "cover", "header", "hero"}), frozenset({"brand_assets"})),
    "engagement": (frozenset({"post", "story", "feed", "reel", "pin", "video"}), frozenset({"social_media"})),
    "conversion": (
        frozenset({"ad", "advert", "offer", "cta", "product", "packshot"}),
        frozenset({"ad_creative", "product"}),
    ),
    "traffic": (frozenset({"link", "card", "article", "thumbnail", "blog"}), frozenset({"blog_content"})),
    "retention": (frozenset({"newsletter", "email", "tile"}), frozenset({"email_marketing"})),
    "launch": (frozenset({"launch", "product", "hero", "announcement", "3d"}), frozenset({"product"})),
}


def _words(text: str) -> list[str]:
    return [word for word in _WORD_RE.findall(text.lower()) if word not in _STOP]


def _fields(template: Template) -> dict[str, list[str]]:
    return {
        "name": _words(template.name),
        "id": _words(template.id.replace("_", " ")),
        "tags": [word for tag in template.tags for word in _words(tag)],
        "platform": _words(template.platform),
        "category": _words(template.category.replace("_", " ")),
        "use_cases": [word for case in template.use_cases for word in _words(case)],
        "description": _words(template.description),
    }


_INDEX: dict[str, dict[str, list[str]]] = {tid: _fields(t) for tid, t in TEMPLATES.items()}


@dataclass(frozen=True)
class Match:
    """A template with its score and why it scored."""

    template: Template
    score: float
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {**self.template.describe(), "score": round(self.score, 2), "reasons": self.reasons}


def _text_score(template_id: str, words: list[str]) -> tuple[float, list[str]]:
    """Weighted hits of ``words`` in one template's fields, and which fields they hit."""
    index = _INDEX[template_id]
    score = 0.0
    hits: list[str] = []
    for word in words:
        best, where = 0.0, ""
        for name, weight in _WEIGHTS.items():
            values = index[name]
            if word in values:
                found = weight
            elif len(word) >= 3 and any(value.startswith(word) for value in values):
                found = weight / 2
            else:
                continue
            if found > best:
                best, where = found, name
        if best:
            score += best
            hits.append(f"'{word}' in {where.replace('_', ' ')}")
    return score, hits


class TemplateService:
    def find(self, *, platform: str | None = None, category: str | None = None) -> list[Template]:
        """Every template, optionally of one platform and/or category (unknown names are a 422)."""
        if platform is not None and platform not in PLATFORMS:
            raise ValidationFailed(
                "platform", f"unknown platform {platform!r}; choose from {', '.join(PLATFORMS)}"
            )
        if category is not None and category not in CATEGORIES:
            raise ValidationFailed(
                "category", f"unknown category {category!r}; choose from {', '.join(CATEGORIES)}"
            )
        return [
            t
            for t in TEMPLATES.values()
            if (platform is None or t.platform == platform) and (category is None or t.category == category)
        ]

    def get(self, template_id: str) -> Template:
        template = TEMPLATES.get(template_id)
        if template is None:
            raise NotFound(f"No template {template_id!r}")
        return template

    def search(self, query: str, *, limit: int = 20) -> list[Match]:
        """Templates matching ``query``, best first; templates matching no word are left out."""
        words = _words(query)
        if not words:
            raise ValidationFailed("q", "give at least one word to search for")
        phrase = " ".join(_WORD_RE.findall(query.lower()))
        matches = []
        for template_id, template in TEMPLATES.items():
            score, hits = _text_score(template_id, words)
            if not score:
                continue
            if len(words) > 1 and phrase in " ".join(_WORD_RE.findall(template.name.lower())):
                score += _PHRASE_BONUS
                hits.append("whole query in name")
            matches.append(Match(template, score, hits))
        matches.sort(key=lambda match: -match.score)  # stable: ties keep catalogue order
        return matches[:limit]

    def recommend(
        self,
        *,
        use_case: str | None = None,
        platform: str | None = None,
        intent: str | None = None,
        limit: int = 5,
    ) -> list[Match]:
        """The templates that best fit a use case, platform and marketing intent, with the reasons.

        A named platform restricts the answer to that platform; the use case is scored like a
        search; the intent adds a point per matching tag and two for a matching category.
        """
        if not (use_case and use_case.strip()) and platform is None and intent is None:
            raise ValidationFailed("use_case", "give a use_case, a platform or an intent")
        if intent is not None and intent not in INTENTS:
            raise ValidationFailed("intent", f"unknown intent {intent!r}; choose from {', '.join(INTENTS)}")
        candidates = self.find(platform=platform)
        words = _words(use_case or "")
        intent_tags, intent_categories = INTENTS[intent] if intent else (frozenset(), frozenset())
        matches = []
        for template in candidates:
            score, reasons = 0.0, []
            if platform is not None:
                reasons.append(f"made for {platform}")
            if words:
                text, hits = _text_score(template.id, words)
                score += text
                reasons += [f"use case: {hit}" for hit in hits]
            if intent:
                tags = intent_tags & {w for tag in template.tags for w in _words(tag)}
                if tags:
                    score += len(tags)
                    reasons.append(f"intent {intent}: {', '.join(sorted(tags))}")
                if template.category in intent_categories:
                    score += 2.0
                    reasons.append(f"intent {intent}: {template.category} template")
            if score or (platform is not None and not words and not intent):
                matches.append(Match(template, score, reasons))
        matches.sort(key=lambda match: -match.score)
        return matches[:limit]


template_service = TemplateService()
