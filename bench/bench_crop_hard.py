"""Smart crop on hard scenes: share of crops keeping every face (or subject) whole, speed and memory vs libvips.

The scenes are composed here from images scikit-image ships (the astronaut portrait for faces,
coffee/cat/rocket/grass/gravel photos for busy backgrounds), so every face and subject box is
known. Each scene is rendered to every catalogue format with its safe zone; a crop keeps the
faces when every face that fits in the crop box with the others is inside it (at least one when
they cannot fit together), and a subject when its whole box is inside. libvips'
``thumbnail(crop="attention")`` renders the same photos to the same sizes for the speed ratio,
encoding them as ours are (progressive, optimised Huffman tables; the ratio against its default
baseline JPEG is reported too), and its crop boxes are scored the same way. The scenes are scored
again at twice their size, where the worker holds a copy reduced to what the outputs need. Peak
memory: one 24 MP photo rendered to every format in a fresh process holding a worker's imports
only, VmHWM.
"""

from __future__ import annotations

import io
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pyvips
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata

from imagestudio.imaging import CropMode, SafeZone, SourceImage, plan_output, render_format
from imagestudio.imaging.crop import DEFAULT_MAX_ZOOM
from imagestudio.studios.social import PLATFORMS, SocialFormat

FORMATS = [f for p in PLATFORMS.values() for f in p.formats]
#: A common job: nine formats across the platforms (a few formats per job is the usual case).
NINE = [
    f
    for f in FORMATS
    if f.key
    in {
        "instagram.feed_square",
        "instagram.feed_portrait",
        "instagram.story",
        "facebook.feed",
        "twitter.post",
        "linkedin.feed",
        "youtube.thumbnail",
        "pinterest.pin",
        "tiktok.cover",
    }
]
#: Every output size, given to the decoder as the social studio gives it (``studios.social.run``).
SIZES = [(f.width, f.height) for f in FORMATS]
#: The astronaut's face inside skimage's 512x512 photo (eyebrows to chin).
FACE_IN_PHOTO = (170, 60, 280, 210)
Pixels = npt.NDArray[np.uint8]
Region = tuple[float, float, float, float]  # left, top, right, bottom


@dataclass
class Scene:
    name: str
    pixels: Pixels
    faces: list[Region] = field(default_factory=list)
    subjects: list[Region] = field(default_factory=list)

    def jpeg(self) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(self.pixels).save(buffer, "JPEG", quality=90)
        return buffer.getvalue()


def busy(width: int, height: int, seed: int) -> Pixels:
    """A collage of photo tiles: the texture and colours of a real busy background."""
    rng = np.random.default_rng(seed)
    tiles = [skdata.coffee(), skdata.chelsea(), skdata.rocket(), np.dstack([skdata.grass()] * 3)]
    out = np.zeros((height, width, 3), np.uint8)
    for y in range(0, height, 280):
        for x in range(0, width, 280):
            tile = tiles[int(rng.integers(len(tiles)))]
            ty, tx = int(rng.integers(0, tile.shape[0] - 280)), int(rng.integers(0, tile.shape[1] - 280))
            h, w = min(280, height - y), min(280, width - x)
            out[y : y + h, x : x + w] = tile[ty : ty + h, tx : tx + w]
    return out


def plain(width: int, height: int, colour: tuple[int, int, int]) -> Pixels:
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 3, (height, width, 1))
    return np.clip(np.array(colour, np.float32) + noise, 0, 255).astype(np.uint8)


def person(canvas: Pixels, face_side: float, cx: float, cy: float, angle: float = 0.0) -> Region:
    """Paste the astronaut scaled so the face is ``face_side`` px wide, face centred on (cx, cy), turned."""
    scale = face_side / (FACE_IN_PHOTO[2] - FACE_IN_PHOTO[0])
    photo = cv2.resize(skdata.astronaut(), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = photo.shape[:2]
    fx = (FACE_IN_PHOTO[0] + FACE_IN_PHOTO[2]) / 2 * scale
    fy = (FACE_IN_PHOTO[1] + FACE_IN_PHOTO[3]) / 2 * scale
    matrix = cv2.getRotationMatrix2D((fx, fy), angle, 1.0)
    turned = cv2.warpAffine(photo, matrix, (w, h))
    # Head and shoulders only (an ellipse round the face), so people can stand close together.
    oval = np.zeros((h, w), np.uint8)
    cv2.ellipse(
        oval,
        (round(fx), round(fy + 0.4 * face_side)),
        (round(1.1 * face_side), round(1.3 * face_side)),
        0,
        0,
        360,
        255,
        -1,
    )
    mask = cv2.warpAffine(oval, matrix, (w, h)) > 0
    x0, y0 = round(cx - fx), round(cy - fy)
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(canvas.shape[1], x0 + w), min(canvas.shape[0], y0 + h)
    part = mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    canvas[cy0:cy1, cx0:cx1][part] = turned[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0][part]
    # The turned face's upright bounding box.
    half_w = (FACE_IN_PHOTO[2] - FACE_IN_PHOTO[0]) / 2 * scale
    half_h = (FACE_IN_PHOTO[3] - FACE_IN_PHOTO[1]) / 2 * scale
    a = math.radians(angle)
    ex = abs(half_w * math.cos(a)) + abs(half_h * math.sin(a))
    ey = abs(half_w * math.sin(a)) + abs(half_h * math.cos(a))
    return cx - ex, cy - ey, cx + ex, cy + ey


def product(canvas: Pixels, left: int, top: int, width: int, height: int) -> Region:
    """A bottle-like product: a coloured body with a cap and a label."""
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    neck = width // 3
    draw.rectangle((left + neck, top, left + width - neck, top + height // 5), fill=(30, 30, 30))
    draw.rounded_rectangle(
        (left, top + height // 5, left + width, top + height), radius=width // 5, fill=(20, 90, 160)
    )
    draw.rectangle(
        (left + 8, top + height // 2, left + width - 8, top + 2 * height // 3), fill=(240, 200, 40)
    )
    canvas[:] = np.asarray(image)
    return left, top, left + width, top + height


def text(canvas: Pixels, left: int, top: int, words: str, size: int) -> Region:
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=size)
    box = draw.textbbox((left, top), words, font=font)
    draw.text((left, top), words, font=font, fill=(20, 20, 20))
    canvas[:] = np.asarray(image)
    return box


def scenes() -> list[Scene]:
    """The hard set: each scene's faces and subjects known from how it was composed."""
    out: list[Scene] = []

    def add(name: str, pixels: Pixels, build: Callable[[Pixels], tuple[list[Region], list[Region]]]) -> None:
        faces, subjects = build(pixels)
        out.append(Scene(name, pixels, faces, subjects))

    add("small face, busy", busy(3000, 2000, 1), lambda c: ([person(c, 60, 2300, 600)], []))
    add("face at the edge", busy(3000, 2000, 2), lambda c: ([person(c, 260, 2820, 900)], []))
    add("tilted 25 deg", busy(2400, 1600, 3), lambda c: ([person(c, 240, 700, 700, 25)], []))
    add("tilted -25 deg", busy(2400, 1600, 4), lambda c: ([person(c, 200, 1800, 800, -25)], []))
    add(
        "two far apart",
        busy(3600, 1600, 5),
        lambda c: ([person(c, 220, 400, 600), person(c, 220, 3200, 650)], []),
    )
    add(
        "two close",
        busy(2400, 1600, 6),
        lambda c: ([person(c, 220, 1000, 700), person(c, 220, 1350, 720)], []),
    )
    add("panorama", busy(6000, 1500, 7), lambda c: ([person(c, 160, 5100, 500)], []))
    add("face low in a tall photo", busy(1600, 3000, 8), lambda c: ([person(c, 220, 800, 2450)], []))
    add("face high in a tall photo", busy(1600, 2400, 9), lambda c: ([person(c, 240, 600, 260)], []))
    add(
        "product on white",
        plain(3000, 2000, (245, 245, 245)),
        lambda c: ([], [product(c, 2200, 700, 320, 900)]),
    )
    add(
        "product on grey",
        plain(2400, 2400, (200, 200, 205)),
        lambda c: ([], [product(c, 300, 400, 500, 1300)]),
    )
    add(
        "text on cream",
        plain(3000, 1500, (250, 240, 220)),
        lambda c: ([], [text(c, 200, 600, "SUMMER SALE", 160)]),
    )
    return out


def inside(box: tuple[int, int, int, int], region: Region) -> bool:
    left, top, width, height = box
    return (
        left <= region[0] + 1
        and top <= region[1] + 1
        and region[2] - 1 <= left + width
        and region[3] - 1 <= top + height
    )


def largest_box(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int]:
    if src_w * height > src_h * width:
        return round(src_h * width / height), src_h
    return src_w, round(src_w * height / width)


def kept(scene: Scene, box: tuple[int, int, int, int], width: int, height: int) -> bool:
    """Every face that can fit with the others (at least one otherwise), and every subject, whole in the box.

    A face or subject larger than the box itself cannot be kept whole; its centre must be inside.
    """
    src_h, src_w = scene.pixels.shape[:2]
    box_w, box_h = largest_box(src_w, src_h, width, height)
    regions = scene.faces or scene.subjects
    fitting = [r for r in regions if r[2] - r[0] <= box_w and r[3] - r[1] <= box_h]
    if not fitting:
        left, top, w, h = box
        return any(
            left <= (r[0] + r[2]) / 2 <= left + w and top <= (r[1] + r[3]) / 2 <= top + h for r in regions
        )
    union = (
        min(r[0] for r in fitting),
        min(r[1] for r in fitting),
        max(r[2] for r in fitting),
        max(r[3] for r in fitting),
    )
    if union[2] - union[0] <= box_w and union[3] - union[1] <= box_h:
        return all(inside(box, region) for region in fitting)
    return any(inside(box, region) for region in fitting)


def union(regions: list[Region]) -> Region:
    return (
        min(r[0] for r in regions),
        min(r[1] for r in regions),
        max(r[2] for r in regions),
        max(r[3] for r in regions),
    )


def zoom_could_place(scene: Scene, fmt: SocialFormat, max_zoom: float = DEFAULT_MAX_ZOOM) -> bool:
    """Whether some crop of the format's aspect, zoomed 1x up to the bound, holds every face (or subject)
    inside the format's safe zone: decided from the known boxes alone, zoom in 200 steps.

    The bound is the planner's: ``max_zoom``, and never a crop smaller than the output (the source's
    resolution limit, ``crop._place``).
    """
    src_h, src_w = scene.pixels.shape[:2]
    box_w, box_h = largest_box(src_w, src_h, fmt.width, fmt.height)
    limit = min(max_zoom, max(1.0, min(box_w / fmt.width, box_h / fmt.height)))
    top, bottom, left, right = fmt.safe_zone
    x0, y0, x1, y1 = union(scene.faces or scene.subjects)
    for step in range(201):
        zoom = 1.0 + (limit - 1.0) * step / 200
        w, h = box_w / zoom, box_h / zoom
        fits_x = max(0.0, x1 - w * (1 - right)) <= min(src_w - w, x0 - w * left)
        fits_y = max(0.0, y1 - h * (1 - bottom)) <= min(src_h - h, y0 - h * top)
        if fits_x and fits_y:
            return True
    return False


def inside_safe_area(scene: Scene, fmt: SocialFormat, box: tuple[int, int, int, int]) -> bool:
    """Every known face (or subject) inside the output's safe area, a pixel of slack as the planner allows."""
    crop_left, crop_top, crop_w, crop_h = box
    sx, sy = fmt.width / crop_w, fmt.height / crop_h
    top, bottom, left, right = fmt.safe_zone
    x0, y0, x1, y1 = union(scene.faces or scene.subjects)
    return (
        (x0 - crop_left) * sx >= left * fmt.width - 1
        and (y0 - crop_top) * sy >= top * fmt.height - 1
        and (x1 - crop_left) * sx <= fmt.width * (1 - right) + 1
        and (y1 - crop_top) * sy <= fmt.height * (1 - bottom) + 1
    )


#: The ``zoom_limit`` values saying no zoom within the bound (and the source's resolution) places
#: the faces or subject inside the safe zone: the crops the safe-zone target leaves out.
NO_ZOOM_WITHIN_THE_BOUND = ("bound", "source_resolution", "no_zoom_fits")


def _share(part: int, whole: int) -> float | None:
    """``part / whole`` to four places, None of nothing."""
    return round(part / whole, 4) if whole else None


def safe_zone_shares(encoded: list[bytes], hard: list[Scene]) -> dict[str, object]:
    """The safe-zone target counted over the crops the planner's own ``zoom_limit`` does not exclude.

    Each scene is planned as the worker plans a job (decoded for every format's size,
    ``plan_output``, the placement ``render_format`` uses) and each crop is scored against the
    scene's known boxes. Beside it, how often the reason agrees with ``zoom_could_place``, the
    bench's own decision from the known boxes (they differ where the detector's boxes do).
    """
    counted = inside_known = inside_flag = 0
    placeable = placeable_inside = 0
    reasons: dict[str, int] = {}
    disagree: list[str] = []
    misses: list[str] = []
    for scene, data in zip(hard, encoded, strict=True):
        source = SourceImage.load(data, max_pixels=100_000_000, sizes=[(f.width, f.height) for f in FORMATS])
        for fmt in FORMATS:
            planned = plan_output(
                source, width=fmt.width, height=fmt.height, safe_zone=SafeZone(*fmt.safe_zone)
            )
            placement = planned.placement
            reason = placement.zoom_limit if placement else "not_placed"
            reasons[reason] = reasons.get(reason, 0) + 1
            excluded = reason in NO_ZOOM_WITHIN_THE_BOUND
            could = zoom_could_place(scene, fmt)
            assert planned.crop_box is not None
            held = inside_safe_area(scene, fmt, planned.crop_box)
            if could:
                placeable += 1
                placeable_inside += held
            if excluded == could:
                disagree.append(f"{scene.name} / {fmt.key}: {reason}")
            if excluded:
                continue
            counted += 1
            if held:
                inside_known += 1
            else:
                misses.append(f"{scene.name} / {fmt.key}: {reason}")
            inside_flag += bool(placement and placement.inside_safe_zone)
    return {
        "crops_a_zoom_within_the_bound_could_place_by_the_known_boxes": placeable,
        "inside_safe_area_share_where_the_known_boxes_allow": _share(placeable_inside, placeable),
        "zoom_limit_counts": dict(sorted(reasons.items())),
        "crops_the_zoom_limit_leaves_in": counted,
        "inside_safe_area_share_where_the_zoom_limit_allows": _share(inside_known, counted),
        "reported_inside_share_where_the_zoom_limit_allows": _share(inside_flag, counted),
        "safe_area_misses_where_the_zoom_limit_allows": misses,
        "zoom_limit_disagrees_with_the_known_boxes": disagree,
    }


def vips_box(image: pyvips.Image, width: int, height: int) -> tuple[int, int, int, int]:
    """The box libvips' attention crop takes (its smartcrop on the same source)."""
    box_w, box_h = largest_box(image.width, image.height, width, height)
    scale = 512 / max(image.width, image.height)  # its attention model works on a small copy too
    small = image.resize(scale)
    _, found = small.smartcrop(
        max(1, round(box_w * scale)),
        max(1, round(box_h * scale)),
        interesting="attention",
        attention_x=True,
        attention_y=True,
    )
    cx, cy = (found["attention_x"] + 0.5) / scale, (found["attention_y"] + 0.5) / scale
    left = min(max(0, round(cx - box_w / 2)), image.width - box_w)
    top = min(max(0, round(cy - box_h / 2)), image.height - box_h)
    return left, top, box_w, box_h


def ours(
    data: bytes, formats: list[SocialFormat] = FORMATS, *, mode: CropMode = "smart"
) -> list[tuple[tuple[int, int, int, int], bool | None]]:
    """Every format rendered as the worker renders a job (decode for its sizes, smart crop, encode).

    ``mode="center"`` makes no crop decision at all: the floor of this pipeline (decode once,
    resample, encode) that any crop decision adds to.
    """
    source = SourceImage.load(data, max_pixels=100_000_000, sizes=[(f.width, f.height) for f in formats])
    results = []
    for fmt in formats:
        top, bottom, left, right = fmt.safe_zone
        rendered = render_format(
            source,
            width=fmt.width,
            height=fmt.height,
            mode=mode,
            quality=90,
            safe_zone=SafeZone(top=top, bottom=bottom, left=left, right=right),
        )
        assert rendered.crop_box is not None
        results.append((rendered.crop_box, rendered.subject.inside_safe_zone if rendered.subject else None))
    return results


#: The encoder settings the service delivers (``imaging.codec``: progressive, optimised Huffman
#: tables, no metadata): libvips' outputs are encoded the same way so both sides make the same files.
SAME_JPEG = {"Q": 90, "optimize_coding": True, "interlace": True, "keep": "none"}


def libvips(
    data: bytes, *, encoder: dict[str, object] | None = None, formats: list[SocialFormat] = FORMATS
) -> None:
    """Every format by ``thumbnail(crop="attention")``, encoded like ours (or with ``encoder``)."""
    for fmt in formats:
        pyvips.Image.thumbnail_buffer(data, fmt.width, height=fmt.height, crop="attention").jpegsave_buffer(
            **(encoder if encoder is not None else SAME_JPEG)
        )


#: What the memory probe runs: a worker's imports (the studio module) and its render loop, nothing
#: of this benchmark's (scikit-image, Pillow drawing).
_WORKER_RENDER = """
import sys
from imagestudio.imaging import SafeZone, SourceImage, render_format
from imagestudio.studios.social import PLATFORMS, SocialFormat
def rss(field):
    return int(open('/proc/self/status').read().split(field + ':')[1].split()[0])
imported = rss('VmRSS')
formats = [f for p in PLATFORMS.values() for f in p.formats]
source = SourceImage.load(open(sys.argv[1], 'rb').read(), max_pixels=100_000_000,
                          sizes=[(f.width, f.height) for f in formats])
for fmt in formats:
    top, bottom, left, right = fmt.safe_zone
    render_format(source, width=fmt.width, height=fmt.height, mode="smart", quality=90,
                  safe_zone=SafeZone(top=top, bottom=bottom, left=left, right=right))
print(rss('VmHWM'), imported)
"""


def peak_memory_mb() -> tuple[float, float]:
    """Peak resident memory (VmHWM) of a fresh worker-like process rendering a 24 MP JPEG to every format,
    and its resident memory after the imports alone.

    VmHWM rather than ru_maxrss: on Linux ru_maxrss carries the parent's peak across fork and exec.
    """
    canvas = busy(6000, 4000, 11)
    person(canvas, 300, 4200, 1200)
    with tempfile.NamedTemporaryFile(suffix=".jpg", delete=False) as handle:
        handle.write(Scene("24 MP", canvas).jpeg())
    out = subprocess.run(
        [sys.executable, "-c", _WORKER_RENDER, handle.name], capture_output=True, text=True, check=True
    )
    Path(handle.name).unlink()
    peak_kb, imported_kb = (int(v) for v in out.stdout.split())
    return round(peak_kb / 1024, 1), round(imported_kb / 1024, 1)


def doubled(scene: Scene) -> Scene:
    """The scene at twice its size (15-36 MP), its faces and subjects with it."""
    pixels = cv2.resize(scene.pixels, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    faces = [(2 * a, 2 * b, 2 * c, 2 * d) for a, b, c, d in scene.faces]
    subjects = [(2 * a, 2 * b, 2 * c, 2 * d) for a, b, c, d in scene.subjects]
    return Scene(scene.name, pixels, faces, subjects)


def kept_share_doubled(hard: list[Scene]) -> float:
    """Share of crops kept on the scenes at twice their size, where the worker holds a reduced copy.

    At their own size (2-9 MP) every catalogue format needs the whole source; at twice it (as for
    any photo from about 12 MP) the decoder keeps only what the largest output needs, and faces
    are found on that copy.
    """
    hits = total = 0
    for scene in map(doubled, hard):
        for fmt, (box, _) in zip(FORMATS, ours(scene.jpeg()), strict=True):
            total += 1
            hits += kept(scene, box, fmt.width, fmt.height)
    return round(hits / total, 4)


#: Ordinary photos: scikit-image's colour photos (a portrait, a cup, a cat, a rocket, a motorbike, a
#: star field) at a phone camera's 12 MP, with sensor-like grain so they encode like photos.
ORDINARY: dict[str, Callable[[], Pixels]] = {
    "astronaut": skdata.astronaut,
    "coffee": skdata.coffee,
    "chelsea": skdata.chelsea,
    "rocket": skdata.rocket,
    "motorcycle": lambda: skdata.stereo_motorcycle()[0],
    "hubble_deep_field": skdata.hubble_deep_field,
}


def ordinary_photos(long_side: int = 4000) -> list[bytes]:
    """Each ordinary photo enlarged to ``long_side`` on its longer edge, grain added, JPEG q90."""
    rng = np.random.default_rng(29)
    out = []
    for name, load in ORDINARY.items():
        pixels = load()[:, :, :3]
        scale = long_side / max(pixels.shape[:2])
        big = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        grain = rng.normal(0, 4, big.shape[:2] + (1,)).astype(np.float32)
        out.append(Scene(name, np.clip(big + grain, 0, 255).astype(np.uint8)).jpeg())
    return out


def ordinary_ratios() -> dict[str, float]:
    """Smart crop vs libvips attention on the ordinary photos, 9 and 31 formats, in one run."""
    photos = ordinary_photos()
    ours(photos[0], NINE), libvips(photos[0], formats=NINE)  # warm-up
    nine = speed_ratios(photos, NINE)
    every = speed_ratios(photos, FORMATS)
    return {
        "ordinary_photos": len(photos),
        **{f"ordinary_nine_formats_{key}": value for key, value in nine.items()},
        **{f"ordinary_31_formats_{key}": value for key, value in every.items()},
    }


def speed_ratios(encoded: list[bytes], formats: list[SocialFormat]) -> dict[str, float]:
    """libvips' time over ours for the same photos and formats, measured side by side (wall and CPU),
    and over the floor: our pipeline with no crop decision (centre crops)."""
    wall = dict.fromkeys(("ours", "vips", "floor"), 0.0)
    cpu = dict.fromkeys(("ours", "vips", "floor"), 0.0)
    runs: dict[str, Callable[[bytes], object]] = {
        "ours": lambda data: ours(data, formats),
        "vips": lambda data: libvips(data, formats=formats),
        "floor": lambda data: ours(data, formats, mode="center"),
    }
    for data in encoded:
        for name, run in runs.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            run(data)
            wall[name] += time.perf_counter() - started
            cpu[name] += time.process_time() - cpu_started
    return {
        "speed_ratio_ours_to_libvips": round(wall["vips"] / wall["ours"], 3),
        "cpu_ratio_libvips_to_ours": round(cpu["vips"] / cpu["ours"], 3),
        "floor_speed_ratio_to_libvips": round(wall["vips"] / wall["floor"], 3),
        "floor_cpu_ratio_libvips_to_floor": round(cpu["vips"] / cpu["floor"], 3),
        "ours_cpu_s_per_photo": round(cpu["ours"] / len(encoded), 3),
        "floor_cpu_s_per_photo": round(cpu["floor"] / len(encoded), 3),
        "libvips_cpu_s_per_photo": round(cpu["vips"] / len(encoded), 3),
    }


def main() -> dict[str, object]:
    hard = scenes()
    encoded = [scene.jpeg() for scene in hard]
    ours(encoded[0]), libvips(encoded[0])  # warm-up: imports, cascades, libvips threads
    ours_hits = vips_hits = total = 0
    safe = safe_total = 0
    placeable = placeable_inside = placeable_reported = 0
    safe_misses: list[str] = []
    misses: list[str] = []
    ours_s = vips_s = plain_s = 0.0
    ours_cpu = vips_cpu = 0.0
    for scene, data in zip(hard, encoded, strict=True):
        started, cpu = time.perf_counter(), time.process_time()
        results = ours(data)
        ours_s += time.perf_counter() - started
        ours_cpu += time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        libvips(data)
        vips_s += time.perf_counter() - started
        vips_cpu += time.process_time() - cpu
        started = time.perf_counter()
        libvips(data, encoder={"Q": 90})
        plain_s += time.perf_counter() - started
        image = pyvips.Image.new_from_buffer(data, "")
        for fmt, (box, in_safe) in zip(FORMATS, results, strict=True):
            total += 1
            if kept(scene, box, fmt.width, fmt.height):
                ours_hits += 1
            else:
                misses.append(f"{scene.name} / {fmt.key}")
            vips_hits += kept(scene, vips_box(image, fmt.width, fmt.height), fmt.width, fmt.height)
            if in_safe is not None:
                safe_total += 1
                safe += in_safe
            if zoom_could_place(scene, fmt):
                placeable += 1
                placeable_reported += bool(in_safe)
                if inside_safe_area(scene, fmt, box):
                    placeable_inside += 1
                else:
                    safe_misses.append(f"{scene.name} / {fmt.key}")
    outputs = total
    nine = speed_ratios(encoded, NINE)
    nine_hits = nine_total = 0
    for scene, data in zip(hard, encoded, strict=True):
        for fmt, (box, _) in zip(NINE, ours(data, NINE), strict=True):
            nine_total += 1
            nine_hits += kept(scene, box, fmt.width, fmt.height)
    kept_doubled = kept_share_doubled(hard)
    safe_zones = safe_zone_shares(encoded, hard)
    ordinary = ordinary_ratios()
    peak_mb, imported_mb = peak_memory_mb()
    return {
        "scenes": len(hard),
        "formats": len(FORMATS),
        "crops": total,
        "ours_kept_share": round(ours_hits / total, 4),
        "ours_kept_share_at_twice_the_size": kept_doubled,
        "libvips_attention_kept_share": round(vips_hits / total, 4),
        "target_kept_share": 0.98,
        "ours_inside_safe_zone_share": round(safe / safe_total, 4) if safe_total else None,
        "crops_a_zoom_within_the_bound_could_place": placeable,
        "ours_inside_safe_zone_share_where_placeable": round(placeable_inside / placeable, 4)
        if placeable
        else None,
        "ours_reported_inside_share_where_placeable": round(placeable_reported / placeable, 4)
        if placeable
        else None,
        "target_inside_safe_zone_share_where_placeable": 0.95,
        "safe_zone_misses_where_placeable": safe_misses,
        **safe_zones,
        "ours_outputs_per_s": round(outputs / ours_s, 2),
        "libvips_outputs_per_s": round(outputs / vips_s, 2),
        "speed_ratio_ours_to_libvips": round(vips_s / ours_s, 3),
        "cpu_ratio_libvips_to_ours": round(vips_cpu / ours_cpu, 3),
        "libvips_baseline_jpeg_outputs_per_s": round(outputs / plain_s, 2),
        "speed_ratio_ours_to_libvips_baseline_jpeg": round(plain_s / ours_s, 3),
        "nine_formats_kept_share": round(nine_hits / nine_total, 4),
        **{f"nine_formats_{key}": value for key, value in nine.items()},
        **ordinary,
        "target_speed_ratio": 1.5,
        "peak_rss_mb_24mp": peak_mb,
        "rss_mb_after_worker_imports": imported_mb,
        "target_peak_rss_mb": 300,
        "misses": misses,
        "self_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--safe-zones"]:  # the safe-zone figures alone, without the speed rounds
        hard = scenes()
        print(json.dumps(safe_zone_shares([scene.jpeg() for scene in hard], hard), indent=2))
    else:
        print(json.dumps(main(), indent=2))
