"""``GET /compress/options`` and ``/compress/presets`` as models: the formats, presets, fields and limits."""

from __future__ import annotations

from imagestudio.studios.common.catalogue import CatalogueField, CatalogueRead


class FormatRead(CatalogueRead):
    id: str
    compress: bool
    convert: bool
    available: bool
    lossless: bool
    alpha: bool
    animation: bool


class CompressPresetRead(CatalogueRead):
    id: str
    name: str
    format: str
    quality: int
    description: str


class RouteFieldsRead(CatalogueRead):
    credits: int
    fields: dict[str, CatalogueField]


class CompressLimitsRead(CatalogueRead):
    target_kb_qualities: list[int]
    target_ssim_qualities: list[int]
    max_encodes: int
    max_lossless_output_bytes: int


class CompressOptions(CatalogueRead):
    """``GET /compress/options``: the formats written here, the presets, both routes' fields, the limits."""

    formats: list[FormatRead]
    presets: list[CompressPresetRead]
    compress: RouteFieldsRead
    convert: RouteFieldsRead
    limits: CompressLimitsRead


class CompressPresets(CatalogueRead):
    """``GET /compress/presets``."""

    presets: list[CompressPresetRead]
