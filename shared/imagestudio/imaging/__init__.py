"""Pure pixel functions, bytes in and bytes out; imports nothing of Image Studio but ``errors``."""

from .codec import (
    ImageInfo,
    Rendered,
    SubjectPlacement,
    ZoomLimit,
    encode,
    has_transparency,
    inspect_image,
    verify_pixels,
)
from .crop import CropMode, detect_faces
from .formats import FORMATS, OutputFormat, extension, media_type
from .social import OutputPlan, SafeZone, plan_output, render_format, safe_zone_overlay, zip_outputs
from .source import SourceImage, provider_ready

__all__ = [
    "FORMATS",
    "CropMode",
    "ImageInfo",
    "OutputFormat",
    "OutputPlan",
    "Rendered",
    "SafeZone",
    "SourceImage",
    "SubjectPlacement",
    "ZoomLimit",
    "detect_faces",
    "encode",
    "extension",
    "has_transparency",
    "inspect_image",
    "media_type",
    "plan_output",
    "provider_ready",
    "render_format",
    "safe_zone_overlay",
    "verify_pixels",
    "zip_outputs",
]
