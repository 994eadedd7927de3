"""The crop plan as the job makes it: one format's crop, every format's, and the plan job's answer.

A social job plans before it renders; a plan job (``POST /social/plan``) stops there and answers the
plan as its one output's metadata.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from imagestudio.imaging import ZoomLimit
from imagestudio.jobs.schemas import JobOutput, JobRead

CropMode = Literal["smart", "center", "fit"]


class FormatPlan(BaseModel):
    """One format's crop as the job makes it: boxes in source pixels unless named ``_in_output``."""

    format: str
    width: int
    height: int
    #: (left, top, width, height) of the crop; None in fit mode.
    crop_box: tuple[int, int, int, int] | None
    #: The largest crop of the aspect over this one: above 1.0 when zoomed in to clear the safe zone.
    zoom: float
    #: "faces", "subject", "attention", "focal_point", "center", "fit", or "user" (set in ``crops``).
    placed_on: str
    #: "user" when the request's ``crops`` set this box, else "studio".
    crop_set_by: Literal["user", "studio"] = "studio"
    #: What the crop was placed to keep (the faces' union or the subject).
    subject_box: tuple[int, int, int, int] | None
    #: The same box in the output's pixels, clipped to it.
    subject_box_in_output: tuple[int, int, int, int] | None
    #: Whether that box lies inside the safe zone (None without a box).
    inside_safe_zone: bool | None
    #: What held the zoom where it is, so a subject outside the safe zone says why: "none" (placed
    #: inside, at the least zoom that does it), "bound" (inside needs more zoom than the zoom
    #: bound), "source_resolution" (inside needs a crop smaller than the output: the source has too
    #: few pixels), "no_zoom_fits" (no zoom places it: too large for the safe area or too near the
    #: source's edge), "no_safe_zone" (the format has no bands) or "not_placed" (not placed on faces
    #: or a subject: centre, focal point, fit, a crop set by hand, the salient peak).
    zoom_limit: ZoomLimit = "not_placed"
    #: Every face found, in source pixels.
    faces: list[tuple[int, int, int, int]]
    safe_zone: dict[str, float]


class SocialPlan(BaseModel):
    """Every format's crop of one image (the ``plan`` output's metadata of a plan job)."""

    source_width: int
    source_height: int
    crop_mode: CropMode
    formats: list[FormatPlan]


class SocialPlanOutput(JobOutput):
    """A plan job's one output: the plan in its metadata."""

    metadata: SocialPlan  # type: ignore[assignment]


class SocialPlanJob(JobRead):
    """A finished plan job as ``POST /social/plan`` answers it under ``Prefer: wait``."""

    # Not JobRead's example (a rendering job's outputs): the plan route's 202 shows that one.
    model_config = ConfigDict(json_schema_extra=None, json_schema_serialization_defaults_required=True)

    outputs: list[SocialPlanOutput]  # type: ignore[assignment]
