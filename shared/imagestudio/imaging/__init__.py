"""Pure pixel functions, bytes in and bytes out; imports nothing of Image Studio but ``errors``."""

from .codec import (
    CONTENT_TYPES,
    ImageInfo,
    OutputFormat,
    Rendered,
    SourceImage,
    SubjectPlacement,
    encode,
    has_transparency,
    inspect_image,
    provider_ready,
    verify_pixels,
)
from .crop import CropMode, choose_crop_box, detect_faces
from .social import OutputPlan, SafeZone, plan_output, render_format, safe_zone_overlay, zip_outputs

__all__ = [
    "CONTENT_TYPES",
    "CropMode",
    "ImageInfo",
    "OutputFormat",
    "OutputPlan",
    "Rendered",
    "SafeZone",
    "SourceImage",
    "SubjectPlacement",
    "choose_crop_box",
    "detect_faces",
    "encode",
    "has_transparency",
    "inspect_image",
    "plan_output",
    "provider_ready",
    "render_format",
    "safe_zone_overlay",
    "verify_pixels",
    "zip_outputs",
]
