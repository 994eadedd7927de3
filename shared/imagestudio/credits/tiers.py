"""Subscription tiers: every limit a plan sets, in one table."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from imagestudio.messaging import FREE_STUDIOS, Priority, Studio


class TierName(StrEnum):
    free = "free"
    basic = "basic"
    pro = "pro"
    enterprise = "enterprise"


ALL_STUDIOS = frozenset(Studio)
ALL_PROVIDERS = frozenset({"stability", "wavespeed", "huggingface", "gemini", "local"})


@dataclass(frozen=True)
class Tier:
    name: TierName
    #: Credits granted at the start of each calendar month (UTC).
    monthly_credits: int
    studios: frozenset[str]
    providers: frozenset[str]
    #: Largest number of images one create job may ask for.
    max_batch: int
    #: Jobs queued or running at once.
    max_concurrent_jobs: int
    #: Job submissions per minute.
    requests_per_minute: int
    #: Bytes the tenant may keep stored: its uploads and its jobs' outputs (``docs/credits-and-limits.md``).
    max_stored_bytes: int
    #: Priorities a submission may ask for (``priority``; ``normal`` is every tier's default).
    priorities: frozenset[Priority] = frozenset({Priority.low, Priority.normal})
    #: Longest ``output_retention_seconds`` a submission may set.
    max_output_retention_seconds: int = 86_400


#: One gibibyte, the unit storage quotas are sold in.
GIB = 1024**3


TIERS: dict[TierName, Tier] = {
    t.name: t
    for t in (
        Tier(
            TierName.free,
            50,
            frozenset(FREE_STUDIOS),
            frozenset({"huggingface", "gemini", "local"}),
            2,
            2,
            10,
            1 * GIB,
            max_output_retention_seconds=86_400,
        ),
        Tier(
            TierName.basic,
            500,
            ALL_STUDIOS,
            frozenset({"stability", "huggingface", "gemini", "local"}),
            4,
            5,
            60,
            10 * GIB,
            max_output_retention_seconds=7 * 86_400,
        ),
        Tier(
            TierName.pro,
            2_000,
            ALL_STUDIOS,
            ALL_PROVIDERS,
            10,
            20,
            300,
            100 * GIB,
            priorities=frozenset(Priority),
            max_output_retention_seconds=30 * 86_400,
        ),
        Tier(
            TierName.enterprise,
            10_000,
            ALL_STUDIOS,
            ALL_PROVIDERS,
            10,
            1_000,
            6_000,
            1024 * GIB,
            priorities=frozenset(Priority),
            max_output_retention_seconds=365 * 86_400,
        ),
    )
}


def get_tier(name: str) -> Tier:
    return TIERS[TierName(name)]
