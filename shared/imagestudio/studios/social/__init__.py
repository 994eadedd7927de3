"""Social optimizer: one upload rendered to every chosen platform format.

The platform catalogue is data in ``social_platforms``; the pixels are done by ``imagestudio.imaging``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Hashable, Sequence
from dataclasses import asdict
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
)
from sqlalchemy.orm import Session

from imagestudio.config import get_settings
from imagestudio.errors import ValidationFailed
from imagestudio.imaging import (
    SafeZone,
    SourceImage,
    plan_output,
    render_format,
    safe_zone_overlay,
    zip_outputs,
)
from imagestudio.imaging.colour import is_hex_colour
from imagestudio.imaging.crop import adopt_analysis, analyse, planning_source
from imagestudio.imaging.formats import OutputFormat, extension
from imagestudio.imaging.source import held_size
from imagestudio.jobs.runner import JobContext
from imagestudio.studios.common.base import Images, Prepared
from imagestudio.studios.common.deployment import WorkerDeployment
from imagestudio.studios.common.http_routes import SubmitRoute
from imagestudio.studios.common.pricing import Estimate, EstimateItem
from imagestudio.studios.common.request import ImageRef, StudioRequest
from imagestudio.studios.social.analyses import analysis_key, plans_of, recall, remember
from imagestudio.studios.social.catalogue import CATALOGUES as CATALOGUES
from imagestudio.studios.social.plans import CropMode as CropMode
from imagestudio.studios.social.plans import FormatPlan as FormatPlan
from imagestudio.studios.social.plans import SocialPlan as SocialPlan
from imagestudio.studios.social.plans import SocialPlanJob as SocialPlanJob
from imagestudio.studios.social.platforms import PLATFORMS as PLATFORMS
from imagestudio.studios.social.platforms import CustomFormat as CustomFormat
from imagestudio.studios.social.platforms import Platform as Platform
from imagestudio.studios.social.platforms import SocialFormat as SocialFormat
from imagestudio.studios.social.platforms import get_format as get_format
from imagestudio.studios.social.platforms import get_platform as get_platform

#: How far a crop set in ``crops`` may stray from its format's aspect ratio (relative), besides the
#: one pixel of rounding a box of whole pixels needs: a box dragged in a browser is rounded to pixels.
CROP_ASPECT_TOLERANCE = 0.01


class CropOverride(BaseModel):
    """A crop the user set for one format, in source pixels (the upright image, EXIF turn applied)."""

    model_config = ConfigDict(extra="forbid")

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)

    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.width, self.height)


def check_crop_aspect(key: str, box: tuple[int, int, int, int], fmt: SocialFormat) -> None:
    """Refuse a crop whose aspect ratio is not its format's (within the tolerance or a pixel's rounding)."""
    _, _, width, height = box
    wanted = fmt.width / fmt.height
    near = abs(width - height * wanted) <= 1 or abs(height - width / wanted) <= 1
    if not near and abs(width / height - wanted) > CROP_ASPECT_TOLERANCE * wanted:
        raise ValidationFailed(
            f"crops.{key}",
            f"a {width}x{height} box is not the {fmt.width}:{fmt.height} aspect of {key} "
            f"(within {CROP_ASPECT_TOLERANCE:.0%})",
        )


def check_crop_inside(key: str, box: tuple[int, int, int, int], width: int, height: int) -> None:
    """Refuse a crop reaching past the image (its upright size, read from the header)."""
    x, y, w, h = box
    if x + w > width or y + h > height:
        raise ValidationFailed(
            f"crops.{key}", f"the box {x},{y} {w}x{h} reaches past the {width}x{height} image"
        )


def _split(values: list[str] | None) -> list[str]:
    """Accept repeated fields and comma-separated lists alike."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def resolve_formats(
    platforms: list[str] | None, formats: Sequence[str | CustomFormat | dict[str, Any]] | None
) -> list[SocialFormat]:
    """The formats a request asks for: named and custom formats plus every format of named platforms;
    none named means all."""
    platform_names = _split(platforms)
    format_keys, customs = split_formats(formats)
    chosen: dict[str, SocialFormat] = {}
    if not platform_names and not format_keys and not customs:
        platform_names = list(PLATFORMS)
    for name in platform_names:
        if name.lower() == "all":
            for p in PLATFORMS.values():
                chosen.update({f.key: f for f in p.formats})
            continue
        chosen.update({f.key: f for f in get_platform(name, field="platforms").formats})
    for key in format_keys:
        fmt = get_format(key)
        chosen[fmt.key] = fmt
    for custom in customs:
        chosen[custom.key] = custom.to_format()
    return list(chosen.values())


def split_formats(
    formats: Sequence[str | CustomFormat | dict[str, Any]] | None,
) -> tuple[list[str], list[CustomFormat]]:
    """Catalogue keys and custom formats apart; a form's custom format is its JSON in a ``formats`` field."""
    keys: list[str] = []
    customs: list[CustomFormat] = []
    for position, value in enumerate(formats or []):
        if isinstance(value, CustomFormat):
            customs.append(value)
        elif isinstance(value, dict) or value.lstrip().startswith("{"):
            try:
                customs.append(
                    CustomFormat.model_validate(value)
                    if isinstance(value, dict)
                    else CustomFormat.model_validate_json(value)
                )
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(part) for part in error["loc"])
                field = f"formats.{position}.{where}" if where else f"formats.{position}"
                raise ValidationFailed(field, str(error["msg"])) from exc
        else:
            keys.extend(_split([value]))
    names = [custom.key for custom in customs]
    if len(set(names)) != len(names):
        raise ValidationFailed("formats", "each custom format needs a name of its own")
    return keys, customs


def _format_kind(value: Any) -> str:
    """A catalogue key is a string; anything else is read as a custom format (so errors name its fields)."""
    return "key" if isinstance(value, str) else "custom"


#: One entry of ``formats``: a catalogue key, or a custom format.
FormatChoice = Annotated[
    Annotated[str, Tag("key")] | Annotated[CustomFormat, Tag("custom")], Discriminator(_format_kind)
]


class SocialOptimizeParams(BaseModel):
    """The validated request, stored on the job."""

    formats: list[str] = Field(min_length=1)
    #: The ``custom.<name>`` formats among ``formats``, as the request sized them.
    custom_formats: list[CustomFormat] = Field(default_factory=list)
    crop_mode: CropMode = "smart"
    focal_point: tuple[float, float] | None = None
    background: str = "auto"
    output_format: OutputFormat = "jpeg"
    quality: int = Field(default=90, ge=1, le=100)
    safe_zone_overlay: bool = False
    zip: bool = True
    enforce_size_limits: bool = True
    #: A plan job (``POST /social/plan``): the crops worked out and answered, nothing rendered.
    plan_only: bool = False
    #: Crops the user set, by format key: (left, top, width, height) in source pixels.
    crops: dict[str, tuple[int, int, int, int]] = Field(default_factory=dict)


class SocialOptimizeRequest(StudioRequest):
    """``POST /social/optimize``: one image, the platforms and formats to render it to, and how."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "image": "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19",
                    "formats": ["instagram.story", "linkedin.feed"],
                },
                {
                    "image": "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19",
                    "platforms": ["instagram"],
                    "crop_mode": "fit",
                },
            ]
        }
    )

    image_fields = ("image",)
    required_images = ("image",)

    image: ImageRef | None = None
    platforms: list[str] | None = Field(
        default=None, description="Platforms (repeat or comma-separate); every format of each. `all` for all."
    )
    formats: list[FormatChoice] | None = Field(
        default=None,
        description="Formats as `platform.format`, e.g. `instagram.story`, or custom sizes "
        '`{"name", "width", "height", "safe_zone"?}` (in a form, that object as JSON in a `formats` field)',
    )
    crop_mode: CropMode = "smart"
    focal_x: float | None = Field(
        default=None, ge=0, le=1, description="Focal point x in 0..1; overrides smart"
    )
    focal_y: float | None = Field(default=None, ge=0, le=1)
    background: str = Field(default="auto", max_length=20, description="fit mode: auto, blur or #rrggbb")
    output_format: OutputFormat = "jpeg"
    quality: int = Field(default=90, ge=1, le=100)
    safe_zone_overlay: bool = False
    zip: bool = Field(default=True, description="Also produce all.zip of every output")
    enforce_size_limits: bool = True
    crops: dict[str, CropOverride] | None = Field(
        default=None,
        description="A crop set by hand per format, by format key (`instagram.story`, `custom.<name>`): "
        '`{"x", "y", "width", "height"}` in source pixels of the upright image, of the format\'s aspect '
        "ratio (within 1 % or a pixel); that format is cropped to it whatever `crop_mode` says "
        "(in a form, the object as JSON in a `crops` field)",
    )

    @field_validator("crops", mode="before")
    @classmethod
    def _crops_from_form(cls, value: Any) -> Any:
        """A form sends the object as JSON text."""
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else None
            except ValueError:
                raise ValueError("crops must be a JSON object") from None
        return value

    #: ``to_params`` once ``checked_params`` worked it out: ``check`` and ``prepare`` share it
    #: (a request is not changed once validated; ``model_copy(update=...)`` would keep it stale).
    _params: SocialOptimizeParams | None = PrivateAttr(default=None)

    def checked_params(self) -> SocialOptimizeParams:
        """``to_params``, worked out once per request (the studio's ``check`` and ``prepare`` both need it)."""
        # Through the private dict: pydantic's ``__getattr__`` for ``self._params`` costs ~3 µs.
        private = self.__pydantic_private__
        assert private is not None  # a model with a private attribute has its dict
        params: SocialOptimizeParams | None = private["_params"]
        if params is None:
            params = private["_params"] = self.to_params()
        return params

    def to_params(self) -> SocialOptimizeParams:
        """The job's params: formats resolved, focal point, background and crops' formats and aspects checked."""
        chosen = resolve_formats(self.platforms, self.formats)
        by_key = {f.key: f for f in chosen}
        crops = {key: crop.box() for key, crop in (self.crops or {}).items()}
        for key, box in crops.items():
            if key not in by_key:
                raise ValidationFailed(f"crops.{key}", f"{key} is not one of the formats asked for")
            check_crop_aspect(key, box, by_key[key])
        _, customs = split_formats(self.formats)
        if (self.focal_x is None) != (self.focal_y is None):
            raise ValidationFailed(
                "focal_y" if self.focal_y is None else "focal_x", "give both focal_x and focal_y"
            )
        if self.background not in ("auto", "blur") and not is_hex_colour(self.background):
            raise ValidationFailed("background", "use auto, blur or a #rrggbb colour")
        return SocialOptimizeParams(
            formats=[f.key for f in chosen],
            custom_formats=customs,
            crop_mode=self.crop_mode,
            focal_point=(self.focal_x, self.focal_y)
            if self.focal_x is not None and self.focal_y is not None
            else None,
            background=self.background,
            output_format=self.output_format,
            quality=self.quality,
            safe_zone_overlay=self.safe_zone_overlay,
            zip=self.zip,
            enforce_size_limits=self.enforce_size_limits,
            crops=crops,
        )


class SocialPlanRequest(SocialOptimizeRequest):
    """``POST /social/plan``: the image and formats of a social job; answers its crops without rendering."""

    def to_params(self) -> SocialOptimizeParams:
        """The params of the job this request plans, marked plan-only (no outputs, no zip)."""
        return super().to_params().model_copy(update={"plan_only": True, "zip": False})


#: The studio's name: its jobs, queue and actors.
name = "social"
#: The free tier may use it (``messaging.FREE_STUDIOS``, written by ``imagestudio deploy render``).
FREE_TIER = True
Request = SocialOptimizeRequest
#: The worker's image installs the face networks' package (``faces``: MTCNN's weights, read as data).
WORKER = WorkerDeployment(extras=("faces",))


def check(request: SocialOptimizeRequest, *, files: Collection[str]) -> None:
    """Refuse what needs no image to judge: unknown platforms or formats, half a focal point, a bad background."""
    request.checked_params()


def prepare(session: Session, *, tenant_id: str, request: SocialOptimizeRequest, images: Images) -> Prepared:
    """The job's params and its one image; social is local pixel work, so no provider is planned.

    Crops are held inside the image's upright size from its header (an image by URL: by the worker).
    """
    params = request.checked_params()
    if "image" in images:
        info = images["image"][1]
        for key, box in params.crops.items():
            check_crop_inside(key, box, info.width, info.height)
    return Prepared(params=params, images=[image for image, _ in images.values()], cost=price(params))


def price(params: SocialOptimizeParams) -> int:
    """Credits a social job costs: none, it is local pixel work (as the seed charged)."""
    return estimate_social(params).total_credits


def estimate_social(params: SocialOptimizeParams) -> Estimate:
    items = [
        EstimateItem(item=key, provider="local", unit_credits=0, count=1, credits=0) for key in params.formats
    ]
    total = sum(i.credits for i in items)
    return Estimate(studio="social", total_credits=total, max_credits=total, breakdown=items)


def estimate(request: dict[str, Any], allowed: Collection[str]) -> Estimate:
    """Price a request through the route's own model; one platform or format may stand alone."""
    lists = {key: _as_list(request[key]) for key in ("platforms", "formats") if key in request}
    return estimate_social(SocialOptimizeRequest.model_validate({**request, **lists}).to_params())


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, (str, dict)) else value


def run(ctx: JobContext) -> None:
    """Render every requested format, then the optional previews and the zip."""
    params = SocialOptimizeParams.model_validate(ctx.params)
    formats = job_formats(params)
    steps = len(formats) + (1 if params.zip else 0)
    ctx.progress(0.0, f"decoding the image for {len(formats)} formats")
    settings = get_settings()
    data = ctx.read_input("image")
    # A crop set by hand may be smaller than any the studio would choose: decode it whole then.
    sizes = [] if params.crops else [(fmt.width, fmt.height) for fmt in formats]
    key = analysis_key(ctx.tenant_id, data)
    kept = None if params.crops else recall(key)
    if params.plan_only and kept is not None and kept.held == held_size((kept.width, kept.height), sizes):
        # A plan redrawn for the same image: planned from what was found in it, nothing decoded.
        _answer_plan(
            ctx, planning_source(kept), formats, params, max_zoom=settings.social_max_zoom, kept=plans_of(key)
        )
        return
    source = SourceImage.load(data, max_pixels=settings.max_image_pixels, sizes=sizes)
    del data
    if kept is not None:
        adopt_analysis(source, kept)
    for crop_key, box in params.crops.items():  # an image by URL had no header at submission
        check_crop_inside(crop_key, box, source.width, source.height)
    if params.plan_only:
        _keep_analysis(key, source, params)
        # The plans kept with the analysis of this very copy (a redraw then re-plans only what it
        # changes); not with one of another size, whose faces may differ.
        current = recall(key)
        held = (int(source.image.width), int(source.image.height))
        plans = plans_of(key) if current is not None and current.held == held else None
        _answer_plan(ctx, source, formats, params, max_zoom=settings.social_max_zoom, kept=plans)
        return
    archive: list[tuple[str, bytes]] = []
    ext = extension(params.output_format)
    for position, fmt in enumerate(formats):
        top, bottom, left, right = fmt.safe_zone
        safe_zone = SafeZone(top=top, bottom=bottom, left=left, right=right)
        rendered = render_format(
            source,
            width=fmt.width,
            height=fmt.height,
            mode=params.crop_mode,
            focal_point=params.focal_point,
            background=params.background,
            output_format=params.output_format,
            quality=params.quality,
            max_bytes=fmt.max_bytes if params.enforce_size_limits else None,
            safe_zone=safe_zone,
            max_zoom=settings.social_max_zoom,
            crop_box=params.crops.get(fmt.key),
        )
        ctx.add_output(
            fmt.key,
            rendered.data,
            ext=ext,
            content_type=rendered.content_type,
            format=rendered.format,
            position=position * 2,
            width=rendered.width,
            height=rendered.height,
            metadata={
                "platform": fmt.platform,
                "format": fmt.id,
                "format_name": fmt.name,
                "aspect": fmt.aspect,
                "crop_mode": params.crop_mode,
                "crop_box": list(rendered.crop_box) if rendered.crop_box else None,
                "crop_set_by": "user" if fmt.key in params.crops else "studio",
                "zoom": rendered.subject.zoom if rendered.subject else 1.0,
                "zoom_limit": rendered.subject.zoom_limit if rendered.subject else "not_placed",
                "quality": rendered.quality,
                "max_bytes": fmt.max_bytes,
                "fits_size_limit": rendered.fits_size_limit,
                "safe_zone": {"top": top, "bottom": bottom, "left": left, "right": right},
                "subject": asdict(rendered.subject) if rendered.subject else None,
            },
        )
        archive.append((f"{fmt.key}.{ext}", rendered.data))
        if params.safe_zone_overlay:
            preview = safe_zone_overlay(rendered, safe_zone)
            ctx.add_output(
                f"{fmt.key}.safe-zone",
                preview.data,
                ext="png",
                content_type=preview.content_type,
                format=preview.format,
                kind="preview",
                position=position * 2 + 1,
                width=preview.width,
                height=preview.height,
                metadata={"platform": fmt.platform, "format": fmt.id, "preview_of": fmt.key},
            )
            archive.append((f"{fmt.key}.safe-zone.png", preview.data))
        ctx.progress((position + 1) / steps, f"rendered {fmt.key} ({position + 1}/{len(formats)})")
    _keep_analysis(key, source, params)
    if params.zip:
        bundle = zip_outputs(archive)
        ctx.add_output(
            "all.zip",
            bundle,
            ext="zip",
            content_type="application/zip",
            format="zip",
            kind="archive",
            position=len(formats) * 2,
            metadata={"files": [name for name, _ in archive]},
        )


def _keep_analysis(key: tuple[str, str], source: SourceImage, params: SocialOptimizeParams) -> None:
    """Keep what a smart crop found in the source for the next plan of the same image (``analyses``).

    Not from a job with crops set by hand: its source was decoded whole, a size no plan without
    them holds, and such jobs never read the cache, so the entry would only push a useful one out."""
    if params.crop_mode == "smart" and params.focal_point is None and not params.crops:
        remember(key, analyse(source))


def job_formats(params: SocialOptimizeParams) -> list[SocialFormat]:
    """The job's formats in order: catalogue keys looked up, custom ones as the request sized them."""
    customs = {custom.key: custom.to_format() for custom in params.custom_formats}
    return [customs[key] if key in customs else get_format(key) for key in params.formats]


def plan_formats(
    source: SourceImage,
    formats: list[SocialFormat],
    params: SocialOptimizeParams,
    *,
    max_zoom: float,
    kept: dict[Hashable, Any] | None = None,
) -> SocialPlan:
    """Each format's crop box, zoom and placement: ``imaging.plan_output``, which ``render_format`` uses.

    ``kept`` holds plans already made from the same analysis (``analyses.plans_of``), by everything
    a plan depends on besides it; a redraw takes those and adds the ones it makes.
    """
    entries = []
    for fmt in formats:
        memo = (fmt.key, fmt.width, fmt.height, fmt.safe_zone, params.crop_mode, params.focal_point, max_zoom)
        if kept is not None and not params.crops and (entry := kept.get(memo)) is not None:
            entries.append(entry)
            continue
        planned = plan_output(
            source,
            width=fmt.width,
            height=fmt.height,
            mode=params.crop_mode,
            focal_point=params.focal_point,
            safe_zone=SafeZone(*fmt.safe_zone),
            max_zoom=max_zoom,
            crop_box=params.crops.get(fmt.key),
        )
        placement = planned.placement
        if fmt.key in params.crops:
            placed_on = "user"
        elif params.crop_mode == "fit":
            placed_on = "fit"
        elif placement is not None:
            placed_on = placement.placed_on
        else:
            placed_on = "focal_point" if params.focal_point is not None else "center"
        top, bottom, left, right = fmt.safe_zone
        entries.append(
            FormatPlan(
                format=fmt.key,
                width=fmt.width,
                height=fmt.height,
                crop_box=planned.crop_box,
                zoom=placement.zoom if placement else 1.0,
                zoom_limit=placement.zoom_limit if placement else "not_placed",
                placed_on=placed_on,
                subject_box=planned.subject_box,
                subject_box_in_output=placement.box if placement else None,
                inside_safe_zone=placement.inside_safe_zone if placement else None,
                faces=list(planned.faces),
                safe_zone={"top": top, "bottom": bottom, "left": left, "right": right},
                crop_set_by="user" if fmt.key in params.crops else "studio",
            )
        )
        if kept is not None and not params.crops:
            kept[memo] = entries[-1]
    return SocialPlan(
        source_width=source.width, source_height=source.height, crop_mode=params.crop_mode, formats=entries
    )


def _answer_plan(
    ctx: JobContext,
    source: SourceImage,
    formats: list[SocialFormat],
    params: SocialOptimizeParams,
    *,
    max_zoom: float,
    kept: dict[Hashable, Any] | None = None,
) -> None:
    """The plan job's one output: the plan as JSON, and as the output's metadata for ``GET /jobs``."""
    plan = plan_formats(source, formats, params, max_zoom=max_zoom, kept=kept)
    ctx.add_output(
        "plan",
        plan.model_dump_json().encode(),
        ext="json",
        content_type="application/json",
        format="json",
        kind="plan",
        metadata=plan.model_dump(mode="json"),
    )
    ctx.progress(1.0, f"planned {len(formats)} formats")


class _PlanStudio:
    """``POST /social/plan`` as a studio: the social studio's jobs, queue and worker, a plan-only request."""

    name = name
    Request = SocialPlanRequest
    ROUTE = SubmitRoute(
        "/social/plan",
        "plan",
        """Each format's crop box, zoom, subject boxes and safe-zone placement, nothing rendered.

        A short job on the social worker (the gateway never decodes pixels): send ``Prefer: wait=10``
        to have the finished job in this answer; its one output, ``plan``, carries the plan (a
        ``SocialPlan``) as its metadata and as a JSON file. The numbers are those a social job with
        the same image and fields uses (docs/studios/social.md, "Crop plan").
        """,
        responses={
            200: {
                "description": "The finished plan job (`Prefer: wait`): its `plan` output's metadata is a SocialPlan",
                "model": SocialPlanJob,
            }
        },
    )

    @staticmethod
    def check(request: SocialOptimizeRequest, *, files: Collection[str]) -> None:
        check(request, files=files)

    @staticmethod
    def prepare(
        session: Session, *, tenant_id: str, request: SocialOptimizeRequest, images: Images
    ) -> Prepared:
        return prepare(session, tenant_id=tenant_id, request=request, images=images)

    @staticmethod
    def price(params: SocialOptimizeParams) -> int:
        return price(params)

    @staticmethod
    def estimate(request: dict[str, Any], allowed: Collection[str]) -> Estimate:
        return estimate(request, allowed)

    @staticmethod
    def run(ctx: JobContext) -> None:
        run(ctx)


#: The plan route's studio (``submission.submit(social.plan_studio, body)``).
plan_studio = _PlanStudio()


#: The gateway's route for this studio (``studios/common/http_routes.py``); the platform routes are ``CATALOGUES``.
ROUTE = SubmitRoute(
    "/social/optimize",
    "optimize",
    """Accept a social job: one image, every chosen platform format; answers 202 with the job.

    The body is a multipart form with the image file, or JSON naming an upload
    (``{"image": "upl_…", "formats": ["instagram.story"]}``); the fields are the same.
    """,
)
