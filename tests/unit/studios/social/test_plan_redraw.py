"""A plan redrawn for the same image takes the format plans it already made, and they are the plans it would make."""

from __future__ import annotations

import io
from typing import Any

import cv2
import pytest
from PIL import Image
from skimage import data as skimage_data

import imagestudio.studios.social as social
from imagestudio.jobs.runner import JobContext
from imagestudio.studios.social import PLATFORMS, SocialPlan, SocialPlanRequest
from imagestudio.studios.social.analyses import forget_all, plans_of

EVERY = [f.key for p in PLATFORMS.values() for f in p.formats]


class PlanContext(JobContext):
    """A plan job's context without database or storage: the input's bytes in, the plan kept."""

    def __init__(self, data: bytes, request: dict[str, Any], tenant: str = "tenant_a") -> None:
        params = SocialPlanRequest.model_validate(request).to_params().model_dump(mode="json")
        super().__init__("job_test", tenant, "social", params, {"image": "test"}, 1)
        self.data = data
        self.plan: SocialPlan | None = None

    def read_input(self, name: str) -> bytes:
        return self.data

    def add_output(self, name: str, data: bytes, **kwargs: Any) -> str:
        self.plan = SocialPlan.model_validate(kwargs["metadata"])
        return name

    def progress(self, fraction: float, message: str) -> None:
        pass


def portrait() -> bytes:
    pixels = cv2.resize(skimage_data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def plan(data: bytes, request: dict[str, Any]) -> SocialPlan:
    ctx = PlanContext(data, request)
    social.run(ctx)
    assert ctx.plan is not None
    return ctx.plan


REDRAWS: list[dict[str, Any]] = [
    {"formats": EVERY[1:]},
    {"formats": EVERY, "focal_x": 0.3, "focal_y": 0.4},
    {"formats": EVERY[::2] + [{"name": "banner", "width": 1200, "height": 400}]},
    {"formats": EVERY},
]


def test_redraws_from_kept_plans_equal_plans_made_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    data = portrait()
    forget_all()
    plan(data, {"formats": EVERY})
    kept = [plan(data, request) for request in REDRAWS]
    monkeypatch.setattr(social, "plans_of", lambda key: {})  # nothing kept: every format planned again
    forget_all()
    plan(data, {"formats": EVERY})
    assert [plan(data, request) for request in REDRAWS] == kept


def test_a_redraw_of_formats_already_planned_plans_none_again(monkeypatch: pytest.MonkeyPatch) -> None:
    data = portrait()
    forget_all()
    first = plan(data, {"formats": EVERY})
    planned: list[int] = []
    real = social.plan_output

    def counted(*args: Any, **kwargs: Any) -> Any:
        planned.append(kwargs["width"])
        return real(*args, **kwargs)

    monkeypatch.setattr(social, "plan_output", counted)
    assert plan(data, {"formats": EVERY}) == first
    assert planned == []
    banner = {"name": "banner", "width": 1200, "height": 400}
    plan(data, {"formats": [EVERY[0], banner]})
    assert planned == [1200]  # only the new format
    # Another tenant's identical bytes keep nothing of this one's.
    assert plans_of(("tenant_b", "0" * 64)) == {}
