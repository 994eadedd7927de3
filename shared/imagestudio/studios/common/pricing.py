"""What an estimate answers: each studio's ``estimate`` (the studio protocol) returns one; the reserve agrees.

An estimate answers two figures: ``total_credits``, what the planned route charges when it serves
(the figure the job captures), and ``max_credits``, what the job holds while it runs (the dearest
route it may fall back to). Pricers plan with the same function, tier and provider health as the
submission, so the two agree whenever the planned route serves.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class EstimateItem(BaseModel):
    item: str
    provider: str | None = None
    model: str | None = None
    quality: str | None = None
    unit_credits: int
    count: int
    credits: int


class Estimate(BaseModel):
    studio: str
    total_credits: int = Field(description="Credits charged when the planned route serves")
    max_credits: int = Field(
        description="Credits held while the job runs: the dearest fallback; only what serves is charged"
    )
    currency: str = "credits"
    breakdown: list[EstimateItem] = Field(default_factory=list)


def first_choice(
    studio: str,
    *,
    item: str,
    provider: str,
    model: str,
    unit_credits: int,
    max_credits: int,
    count: int = 1,
    quality: str | None = None,
) -> Estimate:
    """The estimate of a planned first choice: ``count`` of it at ``unit_credits`` each, ``max_credits`` held."""
    credits = unit_credits * count
    return Estimate(
        studio=studio,
        total_credits=credits,
        max_credits=max_credits,
        breakdown=[
            EstimateItem(
                item=item,
                provider=provider,
                model=model,
                quality=quality,
                unit_credits=unit_credits,
                count=count,
                credits=credits,
            )
        ],
    )
