"""The social crop plan and custom formats through the SDK, sync and async, against `imagestudio up`."""

from __future__ import annotations

import asyncio

import pytest
from sdk_service import Service

from imagestudio_client import AsyncImageStudio, CustomFormat, ImageStudio, SocialPlan, ValidationError

BANNER: CustomFormat = {"name": "partner_banner", "width": 1200, "height": 1500}


def test_the_plan_gives_the_crops_the_job_then_renders_custom_formats_included(service: Service) -> None:
    with ImageStudio(service.url, service.key) as client:
        upload = client.uploads.create(service.photo())
        plan = client.social.plan(upload.id, formats=["instagram.story", BANNER])
        assert isinstance(plan, SocialPlan)
        assert (plan.source_width, plan.source_height) == (640, 480)
        assert [f.format for f in plan.formats] == ["instagram.story", "custom.partner_banner"]
        banner = plan.formats[1]
        assert (banner.width, banner.height) == (1200, 1500)
        assert banner.crop_box is not None and banner.crop_box[2] * 1500 == pytest.approx(
            banner.crop_box[3] * 1200, rel=0.02
        )  # the custom aspect
        job = client.social.optimize(upload.id, formats=["instagram.story", BANNER], zip=False).wait(
            timeout=120
        )
        assert job.status == "succeeded", job.error
        rendered = {o.name: o.metadata["crop_box"] for o in job.outputs}
        assert rendered == {f.format: list(f.crop_box or ()) for f in plan.formats}
        # What held each zoom, the same in the plan and the job (a 640x480 photo to the 1080x1920
        # story cannot zoom: its crop is already smaller than the output).
        assert {o.name: o.metadata["zoom_limit"] for o in job.outputs} == {
            f.format: f.zoom_limit for f in plan.formats
        }
        assert {(o.width, o.height) for o in job.outputs if o.name == "custom.partner_banner"} == {
            (1200, 1500)
        }


def test_the_async_plan_follows_the_focal_point_and_a_bad_custom_size_names_its_field(
    service: Service,
) -> None:
    async def main() -> None:
        async with AsyncImageStudio(service.url, service.key) as client:
            upload = await client.uploads.create(service.photo())
            left = await client.social.plan(upload.id, formats=["instagram.story"], focal_x=0.0, focal_y=0.5)
            right = await client.social.plan(upload.id, formats=["instagram.story"], focal_x=1.0, focal_y=0.5)
            (on_left,), (on_right,) = left.formats, right.formats
            assert on_left.placed_on == on_right.placed_on == "focal_point"
            assert on_left.crop_box and on_right.crop_box and on_left.crop_box[0] < on_right.crop_box[0]
            with pytest.raises(ValidationError) as refused:
                await client.social.plan(upload.id, formats=[{"name": "tiny", "width": 4, "height": 900}])
            # The service names the discriminated union's branch too: formats.0.custom.width.
            assert refused.value.field and refused.value.field.startswith("formats.0.")
            assert refused.value.field.endswith(".width")

    asyncio.run(main())
