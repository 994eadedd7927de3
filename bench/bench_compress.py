"""Compress studio: bytes at equal SSIM against Pillow and the seed's approach, and images per second.

The photos are scikit-image's bundled photographs (astronaut, coffee, chelsea, rocket,
immunohistochemistry, hubble, retina; natural content from 0.14 to 2 MP), decoded once. Two
comparisons per photo, both at equal SSIM (over RGB, :mod:`imagestudio.imaging.similarity`,
equal to scikit-image's Gaussian SSIM):

1. against **Pillow q85** (``save("JPEG", quality=85, optimize=True)``, libjpeg with optimised
   Huffman tables): ours is ``encode_target_ssim`` aimed at the SSIM Pillow q85 reached, in JPEG
   and, labelled cross-format, in WebP and AVIF (what a user who lets the format go gets);
2. at **SSIM 0.98**: ours against Pillow (optimize=True) and the **seed's approach** (the system
   replaced: Pillow, optimize and progressive, its quality knob) each at the lowest quality that
   reaches 0.98, found by bisection; and ours in WebP and AVIF (cross-format).

Speed, one pass: our SSIM search in JPEG (decode, the search with an SSIM per step, as a job runs
it), the seed's encoder bisected to the same SSIM, and one Pillow q85 encode; images per second;
and the encodes our searches made.
"""

from __future__ import annotations

import io
import json
import time

import numpy as np
import numpy.typing as npt
from PIL import Image
from skimage import data as photos

from imagestudio.errors import ValidationFailed
from imagestudio.imaging import SourceImage
from imagestudio.imaging.compress import avif_supported, encode_quality, encode_target_ssim
from imagestudio.imaging.similarity import SsimReference

Pixels = npt.NDArray[np.uint8]
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")
#: The SSIM floor the issue's target is stated at.
MIN_SSIM = 0.98


def load_photos() -> dict[str, Pixels]:
    return {name: np.ascontiguousarray(getattr(photos, name)()[:, :, :3], np.uint8) for name in PHOTOS}


def png(pixels: Pixels) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


def pillow(pixels: Pixels, quality: int, *, progressive: bool = False) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality, optimize=True, progressive=progressive)
    return out.getvalue()


def decode(data: bytes) -> Pixels:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def at_ssim(
    pixels: Pixels, reference: SsimReference, target: float, *, progressive: bool
) -> tuple[bytes, int]:
    """Pillow (optimize=True) at the lowest quality (10..100) whose SSIM reaches ``target``, by bisection."""
    low, high = 10, 100
    best = pillow(pixels, high, progressive=progressive), high
    while high - low > 1:
        middle = (low + high) // 2
        data = pillow(pixels, middle, progressive=progressive)
        if reference.score(decode(data)) >= target:
            best, high = (data, middle), middle
        else:
            low = middle
    return best


ENCODES: list[int] = []


Ours = tuple[bytes, float, int | None, float, str]


def ours_or_none(data: bytes, target: float, fmt: str) -> Ours | None:
    """Ours in a cross-format encoding; None where it cannot reach the SSIM (lossy WebP is 4:2:0)."""
    try:
        return ours(data, target, fmt)
    except ValidationFailed:
        return None


def ours(data: bytes, target: float, fmt: str = "jpeg") -> Ours:
    """Ours and how JPEG got there: its real-valued tables, or mozjpeg's trellis at a whole quality."""
    started = time.perf_counter()
    out = encode_target_ssim(
        SourceImage.load_frames(data, max_pixels=50_000_000), fmt, target_ssim=target, keep="none"
    )
    if fmt == "jpeg":
        ENCODES.append(out.encodes)
    tables = out.tables
    how = (
        f"quality {tables.quality:g}, {tables.subsampling}, chroma steps x{tables.chroma_factor:g}"
        if tables is not None
        else f"mozjpeg trellis, quality {out.quality}"
    )
    return out.data, out.ssim, out.quality, time.perf_counter() - started, how


def saving(ours_bytes: int, theirs: int) -> float:
    return round(1 - ours_bytes / theirs, 3)


def main() -> dict[str, object]:
    images = load_photos()
    sources = {name: png(pixels) for name, pixels in images.items()}
    encode_quality(
        SourceImage.load_frames(next(iter(sources.values())), max_pixels=50_000_000),
        "jpeg",
        quality=80,
        keep="none",
    )
    rows: list[dict[str, object]] = []
    free = ["webp", "avif"] if avif_supported() else ["webp"]
    totals = dict.fromkeys(
        (
            "pillow_q85",
            "ours_equal",
            *(f"ours_equal_{f}" for f in free),
            "ours_equal_smallest",
            "pillow_98",
            "seed_98",
            "ours_98",
            *(f"ours_98_{f}" for f in free),
            "ours_98_smallest",
        ),
        0,
    )
    seconds = dict.fromkeys(("ours_search", "pillow_q85", "seed_search"), 0.0)
    for name, pixels in images.items():
        reference = SsimReference(pixels)
        started = time.perf_counter()
        q85 = pillow(pixels, 85)
        seconds["pillow_q85"] += time.perf_counter() - started
        q85_ssim = reference.score(decode(q85))
        # 1. At equal SSIM: ours aimed at the SSIM Pillow q85 reached on this photo.
        equal, equal_ssim, equal_quality, _, equal_how = ours(sources[name], q85_ssim)
        # Cross-format: what target_ssim gives in WebP and AVIF (when the format is left to us).
        other = {f: r for f in free if (r := ours_or_none(sources[name], q85_ssim, f))}
        # 2. At SSIM 0.98: each encoder at its lowest quality reaching it (the seed's: progressive).
        ours98, ours98_ssim, ours98_quality, search_s, ours98_how = ours(sources[name], MIN_SSIM)
        seconds["ours_search"] += search_s
        other98 = {f: r for f in free if (r := ours_or_none(sources[name], MIN_SSIM, f))}
        pillow98, pillow98_quality = at_ssim(pixels, reference, MIN_SSIM, progressive=False)
        started = time.perf_counter()
        seed98, seed98_quality = at_ssim(pixels, reference, MIN_SSIM, progressive=True)
        seconds["seed_search"] += time.perf_counter() - started
        for key, value in (
            ("pillow_q85", q85),
            ("ours_equal", equal),
            ("ours_equal_smallest", min([equal, *(o[0] for o in other.values())], key=len)),
            ("pillow_98", pillow98),
            ("seed_98", seed98),
            ("ours_98", ours98),
            ("ours_98_smallest", min([ours98, *(o[0] for o in other98.values())], key=len)),
        ):
            totals[key] += len(value)
        for f in free:  # a format that cannot reach the SSIM counts as the JPEG it leaves us with
            totals[f"ours_equal_{f}"] += len(other[f][0]) if f in other else len(equal)
            totals[f"ours_98_{f}"] += len(other98[f][0]) if f in other98 else len(ours98)
        rows.append(
            {
                "photo": f"{name} {pixels.shape[1]}x{pixels.shape[0]}",
                "pillow_q85": {"bytes": len(q85), "ssim": round(q85_ssim, 4)},
                "ours_at_pillow_q85_ssim": {
                    "bytes": len(equal),
                    "ssim": equal_ssim,
                    "quality": equal_quality,
                    "jpeg": equal_how,
                },
                **{
                    f"ours_{f}_at_pillow_q85_ssim": {"bytes": len(o[0]), "ssim": o[1], "quality": o[2]}
                    for f, o in other.items()
                },
                "at_0.98": {
                    "ours": {
                        "bytes": len(ours98),
                        "ssim": ours98_ssim,
                        "quality": ours98_quality,
                        "jpeg": ours98_how,
                    },
                    "pillow": {"bytes": len(pillow98), "quality": pillow98_quality},
                    "seed": {"bytes": len(seed98), "quality": seed98_quality},
                    **{
                        f"ours_{f}": {"bytes": len(other98[f][0]), "quality": other98[f][2]}
                        if f in other98
                        else "out of reach"
                        for f in free
                    },
                },
                "saving_vs_pillow_q85_equal_ssim": saving(len(equal), len(q85)),
                "saving_vs_pillow_at_0.98": saving(len(ours98), len(pillow98)),
            }
        )
    n = len(images)
    return {
        "photos": [r["photo"] for r in rows],
        "per_photo": rows,
        "bytes_total": totals,
        "saving_vs_pillow_q85_at_equal_ssim": saving(totals["ours_equal"], totals["pillow_q85"]),
        "saving_vs_pillow_at_ssim_0.98": saving(totals["ours_98"], totals["pillow_98"]),
        "saving_vs_seed_at_ssim_0.98": saving(totals["ours_98"], totals["seed_98"]),
        "cross_format": {
            **{
                f"{f}_vs_pillow_q85_at_equal_ssim": saving(totals[f"ours_equal_{f}"], totals["pillow_q85"])
                for f in free
            },
            "smallest_of_jpeg_webp_avif_vs_pillow_q85_at_equal_ssim": saving(
                totals["ours_equal_smallest"], totals["pillow_q85"]
            ),
            **{
                f"{f}_vs_pillow_at_ssim_0.98": saving(totals[f"ours_98_{f}"], totals["pillow_98"])
                for f in free
            },
            "smallest_of_jpeg_webp_avif_vs_pillow_at_ssim_0.98": saving(
                totals["ours_98_smallest"], totals["pillow_98"]
            ),
        },
        "ours_jpeg_search_encodes": {"mean": round(sum(ENCODES) / len(ENCODES), 1), "max": max(ENCODES)},
        "images_per_second": {
            "ours_target_ssim_search": round(n / seconds["ours_search"], 2),
            "seed_encoder_ssim_search": round(n / seconds["seed_search"], 2),
            "pillow_q85_one_encode": round(n / seconds["pillow_q85"], 2),
        },
        "target": "ours >= 20 % smaller than Pillow optimize=True q85 at equal SSIM (>= 0.98)",
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
