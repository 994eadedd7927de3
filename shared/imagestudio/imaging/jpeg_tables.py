"""JPEG at a real-valued quality: one base table scaled by libjpeg's curve, chroma apart from luma.

libvips takes a whole-number quality and scales luma and chroma alike; near quality 95 one step
moves the quantiser by a sixth, so an SSIM search overshoots its target and pays for it in bytes.
Here the base table (mozjpeg's ``quant_table=3``, the one the libvips encoder uses) is scaled by
any real quality, chroma by its own factor, and Pillow (libjpeg-turbo) writes the file with those
tables; mozjpeg's lossless transcoder then makes it progressive with optimised scans, keeping
every coefficient. No trellis quantisation on this path: at the qualities an SSIM of 0.98 needs
it saves little, and finer tables save more (docs/benchmarks.md, "Compress studio").
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Final, Literal

import mozjpeg_lossless_optimization as mozjpeg_lossless
from PIL import Image as PILImage

__all__ = ["BASE_TABLE", "JpegTables", "encode_with_tables", "progressive_transcode", "quality_scale"]

#: mozjpeg's quantisation table 3 (N. Robidoux's, ImageMagick's default), natural order; mozjpeg
#: uses it for luma and chroma alike. Scaled by ``quality_scale`` it is libvips' ``quant_table=3``.
BASE_TABLE: Final[tuple[int, ...]] = (
    16, 16, 16, 18, 25, 37, 56, 85,
    16, 17, 20, 27, 34, 40, 53, 75,
    16, 20, 24, 31, 43, 62, 91, 135,
    18, 27, 31, 40, 53, 74, 106, 156,
    25, 34, 43, 53, 69, 94, 131, 189,
    37, 40, 62, 74, 94, 124, 169, 238,
    56, 53, 91, 106, 131, 169, 226, 311,
    85, 75, 135, 156, 189, 238, 311, 418,
)  # fmt: skip

Subsampling = Literal["4:2:0", "4:4:4"]
#: Pillow's ``subsampling`` codes.
_PILLOW_SUBSAMPLING: Final[dict[str, int]] = {"4:4:4": 0, "4:2:0": 2}


def quality_scale(quality: float) -> float:
    """libjpeg's quality curve (``jpeg_quality_scaling``) on real numbers: the base table's percentage."""
    quality = min(max(quality, 1.0), 100.0)
    return 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality


@dataclass(frozen=True)
class JpegTables:
    """Quantisation as a quality for luma, a factor for chroma's steps, and chroma's sampling."""

    #: libjpeg's quality (1..100, any real number) the luma table is scaled to.
    quality: float
    #: Chroma's scale over luma's: 2 quantises colour twice as coarsely.
    chroma_factor: float = 1.0
    subsampling: Subsampling = "4:2:0"

    def tables(self, bands: int) -> list[list[int]]:
        """The tables in natural order: luma's, then chroma's unless the image is grey."""
        scale = quality_scale(self.quality)
        scales = [scale] if bands == 1 else [scale, scale * self.chroma_factor]
        # jpeg_add_quant_table's rounding and baseline limits.
        return [[min(max(math.floor((q * s + 50) / 100), 1), 255) for q in BASE_TABLE] for s in scales]


def encode_with_tables(
    image: PILImage.Image,
    tables: JpegTables,
    *,
    progressive: bool,
    icc: bytes | None = None,
    exif: bytes | None = None,
    xmp: bytes | None = None,
) -> bytes:
    """A standard JPEG of ``image`` (L or RGB) quantised with ``tables``; progressive through
    mozjpeg's lossless transcoder (same coefficients, so the same pixels once decoded)."""
    bands = len(image.getbands())
    options: dict[str, object] = {}
    if icc:
        options["icc_profile"] = icc
    if exif:
        options["exif"] = exif
    if xmp:
        options["xmp"] = xmp
    out = io.BytesIO()
    image.save(
        out,
        "JPEG",
        qtables=tables.tables(bands),
        subsampling=_PILLOW_SUBSAMPLING[tables.subsampling],
        optimize=True,
        **options,
    )
    return progressive_transcode(out.getvalue()) if progressive else out.getvalue()


def progressive_transcode(baseline: bytes) -> bytes:
    """``baseline`` with progressive, optimised scans by mozjpeg's lossless transcoder: the same
    coefficients (so the same pixels once decoded), every marker kept."""
    return bytes(mozjpeg_lossless.optimize(baseline, copy=mozjpeg_lossless.COPY_MARKERS.ALL))
