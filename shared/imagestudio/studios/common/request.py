"""What every studio request shares: strict fields, the per-job webhook, a start deadline, a priority,
the outputs' retention, and images named by upload id.

Each studio declares its request once, as a subclass of :class:`StudioRequest`; a JSON body is
validated against it directly, and a multipart form is turned into the same model (its image
fields then arrive as files instead of upload ids).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from imagestudio.messaging import Priority
from imagestudio.orm import utcnow
from imagestudio.remote_images import is_url

#: The longest ``start_deadline`` given in seconds: a day.
MAX_START_DEADLINE_SECONDS = 86_400
#: The longest ``output_retention_seconds`` any tier allows: a year (each tier allows its own).
MAX_OUTPUT_RETENTION_SECONDS = 365 * 86_400

#: The upload id the studios' request examples name (the shape of an id POST /uploads gives).
EXAMPLE_UPLOAD = "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19"


def examples(*bodies: dict[str, Any]) -> ConfigDict:
    """A request model's config naming ``bodies`` as its schema's examples (OpenAPI shows them)."""
    return ConfigDict(json_schema_extra={"examples": list(bodies)})


#: An image field of a JSON body (or a form's text value): an upload id or an ``https://`` URL.
ImageRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        description=(
            "An upload id (`upl_…`) from POST /uploads, or an `https://` URL of the image "
            "(fetched by the worker, held to the upload limits)"
        ),
    ),
]


class StudioRequest(BaseModel):
    """Fields every studio request accepts; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    #: Fields naming an image: an upload id in a JSON body, a file (or an upload id) in a form.
    image_fields: ClassVar[tuple[str, ...]] = ()
    #: Image fields a request must give (checked by the gateway: a form sends them as files).
    required_images: ClassVar[tuple[str, ...]] = ()
    #: Fields :meth:`given` never counts: the operation chosen, and choices always present (defaulted).
    always_present: ClassVar[tuple[str, ...]] = ()

    webhook_url: str | None = Field(
        default=None, max_length=2048, description="Send this job's events here, signed (Standard Webhooks)"
    )
    webhook_events: list[str] | None = Field(
        default=None, max_length=10, description="Only these events, e.g. `job.succeeded`"
    )

    # Seconds are checked by the validator, not by ``Field(ge, le)``: an int out of bounds would fall
    # through to the datetime branch, which reads a number as a Unix time, and misname the fault.
    start_deadline: int | AwareDatetime | None = Field(
        default=None,
        description=(
            "Drop the job (status `expired`, credits released) unless a worker starts it by then: "
            "seconds from now (1..86400) or an RFC 3339 timestamp in the future"
        ),
        examples=[300, "2026-12-07T12:00:00Z"],
    )

    priority: Priority = Field(
        default=Priority.normal,
        description=(
            "Start before the studio's queued jobs of a lower priority (the priorities your tier "
            "allows: `priorities` in GET /credits)"
        ),
    )
    output_retention_seconds: int | None = Field(
        default=None,
        ge=60,
        le=MAX_OUTPUT_RETENTION_SECONDS,
        description=(
            "Delete the job's outputs and their files this many seconds after it succeeds "
            "(at most your tier's `max_output_retention_seconds`); left out: kept as usual"
        ),
        examples=[3600],
    )

    @field_validator("start_deadline")
    @classmethod
    def _deadline_ahead(cls, value: int | datetime | None) -> int | datetime | None:
        if isinstance(value, datetime) and value <= utcnow():
            raise ValueError("must be in the future")
        if isinstance(value, int) and not 1 <= value <= MAX_START_DEADLINE_SECONDS:
            raise ValueError(f"seconds must be between 1 and {MAX_START_DEADLINE_SECONDS}")
        return value

    def start_by(self, now: datetime) -> datetime | None:
        """When the job must have started (``start_deadline`` as a time), or None."""
        if isinstance(self.start_deadline, int):
            return now + timedelta(seconds=self.start_deadline)
        return self.start_deadline

    def upload_ids(self) -> dict[str, str]:
        """The image fields given as upload ids, by field name."""
        return {name: value for name, value in self._image_texts().items() if not is_url(value)}

    def image_urls(self) -> dict[str, str]:
        """The image fields given as URLs, by field name (their form is checked by the gateway)."""
        return {name: value for name, value in self._image_texts().items() if is_url(value)}

    def _image_texts(self) -> dict[str, str]:
        named = {name: getattr(self, name) for name in self.image_fields}
        return {name: value for name, value in named.items() if isinstance(value, str) and value}

    def given(self, files: Collection[str]) -> list[str]:
        """Inputs the client sent, in field order: text fields not blank, image fields sent in ``files``."""
        names = [n for n in type(self).model_fields if n not in StudioRequest.model_fields]
        return [
            n
            for n in names
            if n not in self.always_present
            and (n in files if n in self.image_fields else getattr(self, n) not in (None, ""))
        ]

    def text(self, name: str) -> str | None:
        """A text field stripped, or None when absent or blank."""
        value = getattr(self, name)
        return value.strip() or None if isinstance(value, str) else None

    @classmethod
    def catalogue_fields(cls, **extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Every field as a studio's catalogue endpoint describes it, read from the model itself.

        An image field is ``{"type": "file"}``; the others keep their type, enum, bounds, default and
        description. ``extra`` adds what the catalogue says beyond the model (a choice checked later).
        """
        schema = cls.model_json_schema()
        fields: dict[str, dict[str, Any]] = {}
        for name, prop in schema["properties"].items():
            if name in StudioRequest.model_fields:
                continue  # the per-job webhook, deadline, priority and retention are not studio inputs
            fields[name] = {**_catalogue_field(prop, image=name in cls.image_fields), **extra.get(name, {})}
        return fields


class ImageRequest(StudioRequest):
    """A request about one image, ``image``, which it must give (compress, convert, upscale)."""

    image_fields = ("image",)
    required_images = ("image",)

    image: ImageRef | None = None


#: JSON Schema keywords a catalogue entry keeps, under the names it uses.
_CATALOGUE_KEYS = {
    "type": "type",
    "enum": "enum",
    "minimum": "minimum",
    "maximum": "maximum",
    "maxLength": "max_length",
    "default": "default",
    "description": "description",
}


def _catalogue_field(prop: dict[str, Any], *, image: bool) -> dict[str, Any]:
    branches = [b for b in prop.get("anyOf", []) if b != {"type": "null"}]
    merged = {**(branches[0] if len(branches) == 1 else {}), **prop}
    entry = {
        ours: merged[theirs] for theirs, ours in _CATALOGUE_KEYS.items() if merged.get(theirs) is not None
    }
    if image:
        entry = {"type": "file", **({"description": entry["description"]} if "description" in entry else {})}
    return entry


@dataclass(frozen=True)
class StoredImage:
    """An image a request named by upload id: already in storage, so the job's input is its key."""

    field: str
    key: str
    #: The object's size as its upload row records it: the gateway never reads the object.
    size_bytes: int
    #: The client's file name the upload recorded, cleaned.
    filename: str | None = None
