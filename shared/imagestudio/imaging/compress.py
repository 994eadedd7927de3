"""Compression and format conversion: one encode at a quality, or a search for a byte or SSIM target.

Bytes in, bytes out. The source is decoded once (every frame of an animation, upright, 8 bits,
its colour profile kept); each candidate encode is decoded again and scored with SSIM against
it. An SSIM search starts at the quality such targets usually need and narrows by interpolating
between the qualities tried; a byte search bisects. A job does at most ``MAX_SEARCH_ENCODES`` encodes.

JPEG at a quality or a byte target goes through libvips' mozjpeg (trellis quantisation, deringing,
optimised progressive scans, its ImageMagick quantisation table). A JPEG SSIM search quantises at
real-valued qualities instead, chroma apart from luma (:mod:`imagestudio.imaging.jpeg_tables`), so
it lands just above the target rather than a whole quality over it, then checks mozjpeg's trellis
at the whole qualities above; at SSIM 0.98 that is about a quarter smaller than Pillow's best
(figures in docs/benchmarks.md). PNG is palette-quantised (libimagequant) when that keeps the
asked quality, lossless otherwise.

It runs past 600 lines because the encoders, the searches (bytes, SSIM, JPEG's SSIM over chroma
choices) and the keep-the-source rule share one decoded source and its private scoring helpers;
split, each part would import the others'. The search arithmetic, which needs none of them, is in
:mod:`imagestudio.imaging.quality_search`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache, cached_property
from typing import Final, Literal, get_args

import mozjpeg_lossless_optimization as mozjpeg_lossless
import numpy as np
import numpy.typing as npt
import pyvips  # type: ignore[import-untyped, unused-ignore]
from PIL import Image as PILImage

from imagestudio.errors import ValidationFailed
from imagestudio.imaging.formats import FORMATS, Encoding
from imagestudio.imaging.jpeg_tables import JpegTables, encode_with_tables, progressive_transcode
from imagestudio.imaging.quality_search import lowest_quality, start_quality
from imagestudio.imaging.similarity import SsimReference
from imagestudio.imaging.source import SourceImage, pixel_array

__all__ = [
    "ALPHA_FORMATS",
    "ANIMATED_FORMATS",
    "ENCODINGS",
    "LOSSLESS_FORMATS",
    "MAX_SEARCH_ENCODES",
    "Encoded",
    "avif_supported",
    "encode_quality",
    "encode_target_kb",
    "encode_target_ssim",
    "source_as_output",
]

ENCODINGS: Final[tuple[str, ...]] = get_args(Encoding)
#: Encodings with an alpha channel.
ALPHA_FORMATS: Final = frozenset(f for f in ENCODINGS if FORMATS[f].alpha)
#: Encodings that keep every frame of an animation.
ANIMATED_FORMATS: Final = frozenset(f for f in ENCODINGS if FORMATS[f].animation)
#: Encodings without a quality setting when converting.
LOSSLESS_FORMATS: Final = frozenset(f for f in ENCODINGS if FORMATS[f].lossless)
#: The quality range a byte-target search covers (the seed's 10..95: above 95 JPEG grows for nothing).
TARGET_KB_QUALITIES: Final = (10, 95)
#: The quality range an SSIM search covers.
TARGET_SSIM_QUALITIES: Final = (10, 100)
#: Most encodes one search makes: bracketing, interpolation, lossless PNG; a JPEG SSIM search stops
#: its later chroma choices and the trellis check here (its first choice alone is not cut short).
MAX_SEARCH_ENCODES: Final = 30
#: The chroma quantisations a JPEG SSIM search tries, each at the lowest real quality that meets the
#: target, in the order that finds the smallest early (the later ones stop once larger). Full-resolution
#: chroma quantised coarser than luma wins at SSIM 0.98, 4:2:0 at lower targets (docs/benchmarks.md).
JPEG_CHROMA: Final = (
    JpegTables(quality=0, chroma_factor=2.0, subsampling="4:4:4"),
    JpegTables(quality=0, chroma_factor=4.0, subsampling="4:4:4"),
    JpegTables(quality=0, chroma_factor=1.0, subsampling="4:2:0"),
    JpegTables(quality=0, chroma_factor=1.0, subsampling="4:4:4"),
)
#: Below this SSIM target 4:2:0 usually wins and is tried first (the later choices then stop sooner).
JPEG_HALF_CHROMA_BELOW: Final = 0.97
#: Steps per whole quality a JPEG SSIM search resolves (near quality 95 a whole step moves the
#: quantiser by a sixth).
JPEG_QUALITY_STEPS: Final = 8
#: An SSIM this close above the target ends a JPEG search's chroma choice (about 1 % in bytes at 0.98).
JPEG_SSIM_TOLERANCE: Final = 0.0002
#: Most whole qualities a JPEG search's step jumps past its last step: the tables are whole
#: numbers, so SSIM climbs in small plateaus, and a line through two points of one points far off.
JPEG_MAX_JUMP: Final = 4
#: Encodes after which a JPEG SSIM search starts no further chroma choice.
JPEG_SEARCH_BUDGET: Final = 24
#: libvips' AV1 effort (0..9): 4 takes ~35x longer than 2 for ~6 % fewer bytes; a search encodes up to ten times.
AVIF_EFFORT: Final = 2

Keep = Literal["none", "icc", "all"]
#: EXIF's Orientation tag.
_EXIF_ORIENTATION: Final = 0x0112
Progress = Callable[[int, str], None]


@cache
def avif_supported() -> bool:
    """Whether the bundled libvips can write AVIF (its libheif built with an AV1 encoder), tried once."""
    try:
        pyvips.Image.black(8, 8, bands=3).heifsave_buffer(Q=50, compression="av1", effort=0)
    except (pyvips.Error, AttributeError):
        return False
    return True


@dataclass(frozen=True)
class Encoded:
    """One output and how it was made."""

    data: bytes
    format: str
    width: int
    #: One frame's height (the stacked frames of an animation are ``frames`` times this).
    height: int
    frames: int
    #: Quality used; None when lossless (TIFF, GIF, BMP, lossless PNG).
    quality: int | None
    #: SSIM of the decoded output to the source pixels (after any flattening), over every frame.
    ssim: float
    #: PNG quantised to a palette.
    palette: bool
    #: Encodes made to find it.
    encodes: int
    #: JPEG quantised at a real quality (``quality`` is then the nearest whole one), chroma apart.
    tables: JpegTables | None = None

    @property
    def content_type(self) -> str:
        return FORMATS[self.format].media_type

    @property
    def ext(self) -> str:
        return FORMATS[self.format].extension


@dataclass(frozen=True)
class _Encoder:
    """Encodes one source in one format with fixed options; scores candidates against the source."""

    source: SourceImage
    format: str
    keep: Keep
    progressive: bool = True

    def encode(
        self,
        quality: int | None,
        *,
        palette: bool = False,
        subsample: Literal["auto", "on", "off"] = "auto",
    ) -> bytes:
        """One encode (JPEG's ``subsample``: chroma halved, or not, whatever the quality)."""
        image = self.source.image
        if self.source.frames > 1:
            image = image.copy()
            image.set_type(pyvips.GValue.gint_type, "page-height", self.source.height)
        keep = self.keep
        if self.format == "jpeg":
            return bytes(
                image.jpegsave_buffer(
                    Q=quality or 85,
                    optimize_coding=True,
                    interlace=self.progressive,
                    # mozjpeg's options (ignored by a libjpeg-turbo build): fewer bytes at equal SSIM.
                    trellis_quant=True,
                    overshoot_deringing=True,
                    optimize_scans=self.progressive,
                    quant_table=3,
                    subsample_mode=subsample,
                    keep=keep,
                )
            )
        if self.format == "png":
            if palette:
                return bytes(image.pngsave_buffer(palette=True, Q=quality or 100, effort=7, keep=keep))
            return bytes(image.pngsave_buffer(compression=9, keep=keep))
        if self.format == "webp":
            return bytes(image.webpsave_buffer(Q=quality or 80, effort=4, smart_subsample=True, keep=keep))
        if self.format == "avif":
            return bytes(
                image.heifsave_buffer(Q=quality or 60, compression="av1", effort=AVIF_EFFORT, keep=keep)
            )
        if self.format == "gif":
            return bytes(image.gifsave_buffer(effort=7, keep=keep))
        if self.format == "tiff":
            return bytes(image.tiffsave_buffer(compression="deflate", predictor="horizontal", keep=keep))
        if self.format == "bmp":
            out = io.BytesIO()
            self._still.save(out, "BMP")
            return out.getvalue()
        raise ValueError(f"unknown encoding {self.format!r}")

    def encode_tables(self, tables: JpegTables) -> bytes:
        """Sequential JPEG quantised with ``tables``, the file a search scores; the one kept is
        ``kept_tables`` of it (the same pixels)."""
        return encode_with_tables(self._still, tables, progressive=False, **self._metadata())

    def kept_tables(self, draft: bytes) -> bytes:
        """The scored ``draft`` as delivered: transcoded losslessly to progressive when asked."""
        return progressive_transcode(draft) if self.progressive else draft

    @cached_property
    def _still(self) -> PILImage.Image:
        """The first frame as Pillow's L or RGB image (JPEG's and BMP's sources are flattened);
        held while a JPEG search encodes with its own tables (:meth:`forget_still` after)."""
        image = self.source.image
        image = image.extract_band(0) if image.bands < 3 else image.extract_band(0, n=3)
        mode = "L" if image.bands == 1 else "RGB"
        return PILImage.frombytes(mode, (image.width, image.height), image.write_to_memory())

    def forget_still(self) -> None:
        """Drop Pillow's copy of the pixels (4 bytes a pixel in RGB) once no encode needs it."""
        self.__dict__.pop("_still", None)

    def _metadata(self) -> dict[str, bytes | None]:
        """What ``keep`` carries over, as Pillow writes it (libvips' ``keep`` on its own path)."""
        image = self.source.image
        if self.keep == "none":
            return {}
        kept = {"icc": self.source.icc}
        if self.keep == "all":
            if image.get_typeof("exif-data"):
                exif = PILImage.Exif()
                exif.load(bytes(image.get("exif-data")))
                exif[_EXIF_ORIENTATION] = 1  # the pixels are upright already
                kept["exif"] = exif.tobytes()
            if image.get_typeof("xmp-data"):
                kept["xmp"] = bytes(image.get("xmp-data"))
        return kept

    def decode(self, data: bytes) -> npt.NDArray[np.uint8]:
        """The candidate's pixels, shaped as the source's (for SSIM)."""
        if self.format == "bmp":
            with PILImage.open(io.BytesIO(data)) as opened:
                decoded = np.asarray(opened)
        else:
            options = {"n": -1} if self.source.frames > 1 else {}
            # Sequential: decoded straight into the one array it is scored from.
            image = pyvips.Image.new_from_buffer(data, "", access="sequential", **options)
            if image.format != "uchar":
                image = image.cast("uchar")
            decoded = pixel_array(image)
        return _match_bands(decoded, self.source.image.bands)


def _match_bands(pixels: npt.NDArray[np.uint8], bands: int) -> npt.NDArray[np.uint8]:
    """Bring a decoded candidate to the source's band count (savers add or drop an alpha or colour)."""
    array = pixels[:, :, None] if pixels.ndim == 2 else pixels
    have = array.shape[2]
    if have == bands:
        return array
    if bands in (1, 2) and have >= 3:  # grey saved as colour: its first band is the grey
        grey = array[:, :, :1]
        return np.concatenate([grey, array[:, :, 3:4]], axis=2) if bands == 2 and have == 4 else grey
    if bands >= 3 and have < 3:
        array = np.concatenate([np.repeat(array[:, :, :1], 3, axis=2), array[:, :, 1:]], axis=2)
    if array.shape[2] < bands:  # opaque alpha the saver left out
        opaque = np.full((*array.shape[:2], bands - array.shape[2]), 255, np.uint8)
        array = np.concatenate([array, opaque], axis=2)
    return np.ascontiguousarray(array[:, :, :bands])


class _Scorer:
    """Candidates encoded and scored once each; counts the encodes.

    Every candidate's size and score are kept, its bytes only while it may be the answer: the
    latest and the smallest candidate meeting ``target`` (any candidate without one). A search
    of 30 encodes kept every file before, up to 90 bytes a pixel for a noisy photo at high quality.
    A candidate asked for again after its bytes went is encoded again, uncounted: the encoders are
    deterministic, so it is the file that was scored.
    """

    def __init__(self, encoder: _Encoder, on_step: Progress | None, *, target: float | None = None) -> None:
        self.encoder = encoder
        self.target = target
        source = encoder.source
        self.reference = SsimReference.reading(
            source.rows, (int(source.image.height), source.width, int(source.image.bands))
        )
        self.on_step = on_step
        self.encodes = 0
        #: Size and score of every candidate.
        self._seen: dict[tuple[object, ...], tuple[int, float]] = {}
        self._kept: dict[tuple[object, ...], bytes] = {}
        self._latest: tuple[object, ...] | None = None
        self._smallest: tuple[object, ...] | None = None

    def try_quality(
        self,
        quality: int | None,
        *,
        palette: bool = False,
        subsample: Literal["auto", "on", "off"] = "auto",
    ) -> tuple[bytes, float]:
        label = "lossless" if quality is None else f"quality {quality}"
        return self._scored(
            (quality, palette, subsample),
            label,
            lambda: self.encoder.encode(quality, palette=palette, subsample=subsample),
        )

    def try_tables(self, tables: JpegTables) -> tuple[bytes, float]:
        """The sequential draft at ``tables`` (its progressive transcode has the same pixels)."""
        label = f"quality {tables.quality:.0f}"  # the tables' other knobs are engine internals
        return self._scored((tables,), label, lambda: self.encoder.encode_tables(tables))

    def _scored(
        self, key: tuple[object, ...], label: str, encode: Callable[[], bytes]
    ) -> tuple[bytes, float]:
        if key in self._kept:
            return self._kept[key], self._seen[key][1]
        data = encode()
        if key in self._seen:  # its bytes went: the same file again
            score = self._seen[key][1]
        else:
            score = self.reference.score(self.encoder.decode(data))
            self.encodes += 1
            self._seen[key] = (len(data), score)
            if self.on_step is not None:
                self.on_step(self.encodes, f"tried {label}, {len(data) / 1024:.1f} kB, SSIM {score:.4f}")
        self._keep(key, data, score)
        return data, score

    def _keep(self, key: tuple[object, ...], data: bytes, score: float) -> None:
        """Hold ``data`` if it is the latest or the smallest candidate meeting the target; drop the rest."""
        if self.target is not None and score < self.target:
            return
        self._latest = key
        if self._smallest is None or len(data) <= self._seen[self._smallest][0]:
            self._smallest = key
        self._kept[key] = data
        for held in [held for held in self._kept if held not in (self._latest, self._smallest)]:
            del self._kept[held]

    def result(
        self,
        data: bytes,
        score: float,
        quality: int | None,
        *,
        palette: bool = False,
        tables: JpegTables | None = None,
    ) -> Encoded:
        source = self.encoder.source
        return Encoded(
            data=data,
            format=self.encoder.format,
            width=source.width,
            height=source.height,
            frames=source.frames,
            quality=quality,
            ssim=round(score, 5),
            palette=palette,
            encodes=self.encodes,
            tables=tables,
        )


def _encoder(source: SourceImage, output_format: str, *, keep: Keep, progressive: bool) -> _Encoder:
    if output_format not in ANIMATED_FORMATS:
        source = source.first_frame()
    return _Encoder(source, output_format, keep, progressive)


def encode_quality(
    source: SourceImage,
    output_format: str,
    *,
    quality: int | None,
    keep: Keep,
    progressive: bool = True,
    palette_min_ssim: float | None = None,
    on_step: Progress | None = None,
) -> Encoded:
    """One encode at ``quality`` (None: lossless, for the formats without one).

    PNG with a quality is quantised to a palette at that quality when the result's SSIM is at
    least ``palette_min_ssim`` and it is smaller than lossless PNG; otherwise lossless.
    """
    scorer = _Scorer(_encoder(source, output_format, keep=keep, progressive=progressive), on_step)
    if output_format == "png" and quality is not None:
        lossless, _ = scorer.try_quality(None)
        quantised, score = scorer.try_quality(quality, palette=True)
        if score >= (palette_min_ssim or 0.0) and len(quantised) < len(lossless):
            return scorer.result(quantised, score, quality, palette=True)
        return scorer.result(lossless, 1.0, None)
    lossy = output_format not in LOSSLESS_FORMATS
    data, score = scorer.try_quality(quality if lossy else None)
    return scorer.result(data, score, quality if lossy else None)


def encode_target_kb(
    source: SourceImage,
    output_format: str,
    *,
    target_kb: int,
    keep: Keep,
    progressive: bool = True,
    field: str = "target_kb",
    on_step: Progress | None = None,
) -> Encoded:
    """The highest quality (10..95) whose file is at most ``target_kb`` kB (1 kB = 1,024 bytes).

    PNG tries lossless first, then palette qualities. Raises ``ValidationFailed`` naming ``field``
    when even the lowest quality is larger: the target is impossible for this image.
    """
    limit = target_kb * 1024
    scorer = _Scorer(_encoder(source, output_format, keep=keep, progressive=progressive), on_step)
    palette = output_format == "png"
    if palette:
        lossless, _ = scorer.try_quality(None)
        if len(lossless) <= limit:
            return scorer.result(lossless, 1.0, None)
    low, high = TARGET_KB_QUALITIES
    data, score = scorer.try_quality(low, palette=palette)
    if len(data) > limit:
        raise ValidationFailed(
            field,
            f"{target_kb} kB is out of reach: even quality {low} gives {len(data) / 1024:.1f} kB "
            f"for this {source.width}x{source.height} image",
        )
    best = (data, score, low)
    top, top_score = scorer.try_quality(high, palette=palette)
    if len(top) <= limit:
        return scorer.result(top, top_score, high, palette=palette)
    # Size grows with quality (almost monotonically): ``low`` fits, ``high`` does not.
    while high - low > 1:
        middle = (low + high) // 2
        data, score = scorer.try_quality(middle, palette=palette)
        if len(data) <= limit:
            best, low = (data, score, middle), middle
        else:
            high = middle
    return scorer.result(best[0], best[1], best[2], palette=palette)


def encode_target_ssim(
    source: SourceImage,
    output_format: str,
    *,
    target_ssim: float,
    keep: Keep,
    progressive: bool = True,
    field: str = "target_ssim",
    on_step: Progress | None = None,
) -> Encoded:
    """The smallest file whose SSIM to the source is at least ``target_ssim``: the lowest such quality.

    PNG searches palette qualities and falls back to lossless (SSIM 1). Raises ``ValidationFailed``
    naming ``field`` when even quality 100 stays under the target.
    """
    scorer = _Scorer(
        _encoder(source, output_format, keep=keep, progressive=progressive), on_step, target=target_ssim
    )
    if output_format == "jpeg":
        return _smallest_jpeg(scorer, target_ssim, field=field)
    palette = output_format == "png"
    low, high = TARGET_SSIM_QUALITIES

    def score_at(quality: int) -> float:
        return scorer.try_quality(quality, palette=palette)[1]

    found = lowest_quality(score_at, target_ssim, low, high, start=start_quality(output_format, target_ssim))
    quality = found if found is not None else high
    data, score = scorer.try_quality(quality, palette=palette)  # scored already: the search kept it
    if score < target_ssim:
        if palette:
            lossless, _ = scorer.try_quality(None)
            return scorer.result(lossless, 1.0, None)
        raise ValidationFailed(
            field,
            f"SSIM {target_ssim} is out of reach in {output_format}: even quality {high} gives "
            f"{score:.4f} for this image",
        )
    if palette:  # a palette at high quality can exceed lossless on smooth images
        lossless, _ = scorer.try_quality(None)
        if len(lossless) <= len(data):
            return scorer.result(lossless, 1.0, None)
    return scorer.result(data, score, quality, palette=palette)


class _Outgrown(Exception):
    """Raised when a candidate misses the target and is already larger than the best answer."""


class _CloseEnough(Exception):
    """Raised when a candidate meets the target by less than ``JPEG_SSIM_TOLERANCE``."""

    def __init__(self, step: int) -> None:
        super().__init__(step)
        self.step = step


def _smallest_jpeg(scorer: _Scorer, target: float, *, field: str) -> Encoded:
    """The smallest JPEG whose SSIM reaches ``target``: for each of ``JPEG_CHROMA`` the lowest real
    quality that meets it (or within ``JPEG_SSIM_TOLERANCE`` above it), the smallest of those; then
    mozjpeg's trellis quantisation (chroma steps as luma's, the winner's sampling) from the whole
    quality above, up while it stays smaller, kept if one meets the target (a tenth smaller around
    quality 85 on some photos).

    No chroma choice starts once ``JPEG_SEARCH_BUDGET`` encodes are spent.
    """
    grey = scorer.encoder.source.image.bands < 3
    best: tuple[int, JpegTables] | None = None
    start: float = start_quality("jpeg", target)
    choices: tuple[JpegTables, ...] = JPEG_CHROMA
    if grey:
        choices = (JpegTables(quality=0, subsampling="4:4:4"),)
    elif target < JPEG_HALF_CHROMA_BELOW:
        choices = tuple(sorted(JPEG_CHROMA, key=lambda chroma: chroma.subsampling != "4:2:0"))
    for chroma in choices:
        if best is not None and scorer.encodes >= JPEG_SEARCH_BUDGET:
            break
        tables = _lowest_jpeg_quality(scorer, chroma, target, start=start, beat=best[0] if best else None)
        if tables is not None:
            start = tables.quality  # the next choice usually needs a quality near this one's
            size = len(scorer.try_tables(tables)[0])
            if best is None or size < best[0]:
                best = (size, tables)
    top = TARGET_SSIM_QUALITIES[1]
    if best is None:
        _, score = scorer.try_tables(replace(JPEG_CHROMA[-1], quality=top))
        raise ValidationFailed(
            field,
            f"SSIM {target} is out of reach in jpeg: even quality {top} gives {score:.4f} for this image",
        )
    tables = best[1]
    draft, score = scorer.try_tables(tables)
    scorer.encoder.forget_still()  # the trellis encodes below read libvips' copy
    # The kept file is the scored draft transcoded losslessly (same coefficients): its score stands.
    data = scorer.encoder.kept_tables(draft)
    # Trellis zeroes coefficients, so it may need a few whole qualities more: up while smaller.
    subsample: Literal["on", "off"] = "on" if tables.subsampling == "4:2:0" else "off"
    quality = math.ceil(tables.quality)
    while quality <= top and scorer.encodes < MAX_SEARCH_ENCODES:
        trellis, trellis_score = scorer.try_quality(quality, subsample=subsample)
        if len(trellis) >= len(data):
            break
        if trellis_score >= target:
            return scorer.result(trellis, trellis_score, quality)
        quality += 1
    return scorer.result(data, score, round(tables.quality), tables=tables)


def _lowest_jpeg_quality(
    scorer: _Scorer, chroma: JpegTables, target: float, *, start: float, beat: int | None
) -> JpegTables | None:
    """``chroma`` at the lowest quality (in ``JPEG_QUALITY_STEPS``) that meets ``target``; None when
    none does, when a quality that misses is already ``beat`` bytes or more (finer only grows), or
    when the search's encodes run out while another answer is in hand."""
    steps = JPEG_QUALITY_STEPS
    low, high = (quality * steps for quality in TARGET_SSIM_QUALITIES)

    def score_at(step: int) -> float:
        if beat is not None and scorer.encodes >= MAX_SEARCH_ENCODES - 2:
            raise _Outgrown  # out of encodes: keep the answer in hand (and two for trellis)
        data, score = scorer.try_tables(replace(chroma, quality=step / steps))
        if score < target and beat is not None and len(data) >= beat:
            raise _Outgrown
        if target <= score < target + JPEG_SSIM_TOLERANCE:
            raise _CloseEnough(step)
        return score

    try:
        found = lowest_quality(
            score_at, target, low, high, start=round(start * steps), max_jump=JPEG_MAX_JUMP * steps
        )
    except _Outgrown:
        return None
    except _CloseEnough as close:
        found = close.step
    return None if found is None else replace(chroma, quality=found / steps)


def source_as_output(data: bytes, source: SourceImage, *, keep: Keep) -> bytes | None:
    """The source file itself as the output, its metadata stripped as ``keep`` says, without
    touching a pixel; None when that cannot be done losslessly (the caller encodes instead).

    JPEG goes through mozjpeg's lossless transcoder (the same coefficients, optimised Huffman
    tables and progressive scans, only the kept markers copied); another format is kept only
    when it carries nothing to strip. A file turned upright from its EXIF orientation keeps
    its bytes only with all metadata (without the tag it would show on its side).
    """
    if source.rotated and keep != "all":
        return None
    if keep == "all":
        return data
    if source.format == "jpeg":
        copy = mozjpeg_lossless.COPY_MARKERS.ICC if keep == "icc" else mozjpeg_lossless.COPY_MARKERS.NONE
        try:
            return bytes(mozjpeg_lossless.optimize(data, copy=copy))
        except ValueError:
            return None
    image = source.image
    strippable = ["exif-data", "xmp-data", "iptc-data"] + (["icc-profile-data"] if keep == "none" else [])
    if any(image.get_typeof(name) != 0 for name in strippable):
        return None
    return data
