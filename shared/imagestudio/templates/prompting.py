"""Deterministic, explainable prompt enhancement: every phrase added comes with its reason.

No model is called: the same request always gives the same prompt. Phrases come from the
style preset, the template's composition guidance and the quality level (plus a baseline
negative prompt); a phrase whose words the prompt already has is not added twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from imagestudio.providers.schemas import Quality
from imagestudio.templates.catalogue import Template

__all__ = ["STYLE_PHRASES", "Addition", "PromptResult", "add", "add_each", "append_phrases", "enhance"]

Target = Literal["prompt", "negative_prompt"]

#: Style preset -> the words that describe it (also used for models without native presets).
STYLE_PHRASES: dict[str, str] = {
    "photographic": "professional photograph, natural lighting, realistic detail",
    "digital-art": "digital illustration, clean lines, vibrant colours",
    "cinematic": "cinematic still, dramatic lighting, shallow depth of field",
    "3d-model": "3D render, studio lighting, soft shadows",
    "anime": "anime style, cel shading",
    "line-art": "clean line art, ink outlines",
    "analog-film": "analog film photograph, film grain, warm tones",
    "comic-book": "comic book style, bold ink outlines, halftone shading",
    "enhance": "enhanced detail, crisp and vivid",
    "fantasy-art": "fantasy art, painterly, epic atmosphere",
    "isometric": "isometric view, clean geometry",
    "low-poly": "low-poly 3D style, faceted geometry",
    "modeling-compound": "modelling clay style, handmade texture",
    "neon-punk": "neon-punk style, glowing neon colours, high contrast",
    "origami": "origami paper-craft style, folded paper",
    "pixel-art": "pixel art, limited palette",
    "tile-texture": "seamless tileable texture",
}

#: Quality level -> (phrases, reason).
_QUALITY_PHRASES: dict[Quality, str] = {
    "draft": "",
    "standard": "well composed, sharp focus",
    "premium": "highly detailed, sharp focus, professional composition, rich lighting",
}
_NEGATIVE_BASELINE = "blurry, low quality, distorted, watermark, jpeg artifacts"
_WORD_RE = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Addition:
    """One phrase added to the prompt or the negative prompt, and why."""

    text: str
    target: Target
    source: str
    reason: str


@dataclass(frozen=True)
class PromptResult:
    """The prompt pair after a step, with every addition explained."""

    prompt: str
    negative_prompt: str | None
    additions: list[Addition] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"additions": [asdict(addition) for addition in self.additions], "warnings": self.warnings}


def _words(text: str) -> set[str]:
    return set(_WORD_RE.findall(text.lower()))


def append_phrases(text: str | None, phrases: str) -> tuple[str, list[str]]:
    """``text`` with each comma-separated phrase appended unless all its words are already there."""
    result = (text or "").strip()
    present = _words(result)
    added = []
    for phrase in (part.strip() for part in phrases.split(",")):
        words = _words(phrase)
        if not phrase or words <= present:
            continue
        result = f"{result}, {phrase}" if result else phrase
        present |= words
        added.append(phrase)
    return result, added


def add(result: PromptResult, phrases: str, *, target: Target, source: str, reason: str) -> PromptResult:
    """``result`` with ``phrases`` appended to ``target``, recorded as one addition."""
    current = result.prompt if target == "prompt" else result.negative_prompt
    updated, added = append_phrases(current, phrases)
    if not added:
        return result
    addition = Addition(text=", ".join(added), target=target, source=source, reason=reason)
    if target == "prompt":
        return PromptResult(updated, result.negative_prompt, [*result.additions, addition], result.warnings)
    return PromptResult(result.prompt, updated, [*result.additions, addition], result.warnings)


def add_each(result: PromptResult, additions: Sequence[Addition]) -> PromptResult:
    """``add`` each addition's phrases in turn (``text`` the phrases; an empty one adds nothing)."""
    for addition in additions:
        result = add(
            result, addition.text, target=addition.target, source=addition.source, reason=addition.reason
        )
    return result


def enhance(
    prompt: str,
    negative_prompt: str | None,
    *,
    style_preset: str | None,
    quality: Quality,
    template: Template | None,
) -> PromptResult:
    """The enhanced prompt pair: style words, template composition, quality words, baseline negatives."""
    result = PromptResult(prompt.strip(), negative_prompt.strip() if negative_prompt else None)
    style = STYLE_PHRASES.get(style_preset, "") if style_preset else ""
    composition = (
        Addition(
            template.composition,
            "prompt",
            "template",
            f"composition for {template.name} ({template.width}x{template.height}, {template.aspect_ratio})",
        )
        if template is not None
        else None
    )
    return add_each(
        result,
        [
            Addition(
                style,
                "prompt",
                "style",
                f"describes the {style_preset} style in words every model understands",
            ),
            *([composition] if composition else []),
            Addition(
                _QUALITY_PHRASES[quality],
                "prompt",
                "quality",
                f"{quality} quality asks for finish and detail",
            ),
            Addition(
                _NEGATIVE_BASELINE,
                "negative_prompt",
                "baseline",
                "common generation defects to steer away from",
            ),
        ],
    )
