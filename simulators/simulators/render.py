"""Deterministic SIMULATED images: a seeded render of the prompt, and plausible edit/upscale transforms.

Same seed + prompt + size gives the same pixels. Every render carries a "SIMULATED" label so a
simulator output can never be mistaken for a provider's.
"""

from __future__ import annotations

import hashlib
import io
import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

__all__ = [
    "decode",
    "encode",
    "erase",
    "inpaint",
    "outpaint",
    "recolor",
    "relight",
    "remove_background",
    "render",
    "render_image",
    "resize_to_megapixels",
    "search_and_replace",
    "upscale",
]

#: Refuse to decode uploads bigger than this many pixels (the simulators' own bomb guard).
MAX_DECODE_PIXELS = 80_000_000

_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}


def _rng(prompt: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ValueError):  # Pillow built without FreeType
        return ImageFont.load_default()


def render(prompt: str, *, seed: int, width: int, height: int) -> Image.Image:
    """The simulated image of ``prompt`` at ``seed``: gradient, a few shapes, the prompt in small print."""
    rng = _rng(prompt, seed)
    start, end = np.array(_colour(rng), dtype=np.float32), np.array(_colour(rng), dtype=np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xs * math.cos(angle) / max(width, 1) + ys * math.sin(angle) / max(height, 1)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    pixels = start + (end - start) * t[..., None]
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")

    draw = ImageDraw.Draw(image)
    unit = min(width, height)
    for _ in range(rng.randint(3, 6)):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.05, 0.25) * unit
        box = (x - radius, y - radius, x + radius, y + radius)
        fill = _colour(rng)
        shape = rng.choice(("ellipse", "rectangle", "triangle"))
        if shape == "ellipse":
            draw.ellipse(box, fill=fill)
        elif shape == "rectangle":
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon([(x, y - radius), (x + radius, y + radius), (x - radius, y + radius)], fill=fill)

    font_size = max(8, unit // 48)
    font = _font(font_size)
    band = font_size * 3
    draw.rectangle((0, height - band, width, height), fill=(0, 0, 0))
    caption = prompt if len(prompt) <= 120 else prompt[:117] + "..."
    draw.text(
        (font_size // 2, height - band + font_size // 4),
        f"SIMULATED IMAGE  seed={seed}",
        fill=(255, 210, 0),
        font=font,
    )
    draw.text((font_size // 2, height - band + font_size * 3 // 2), caption, fill=(255, 255, 255), font=font)
    return image


def encode(image: Image.Image, output_format: str) -> bytes:
    """PNG, JPEG or WebP bytes (JPEG drops alpha)."""
    pil_format = _PIL_FORMATS.get(output_format.lower(), "PNG")
    if pil_format == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    options: dict[str, int] = {"compress_level": 1} if pil_format == "PNG" else {"quality": 90}
    image.save(buffer, format=pil_format, **options)
    return buffer.getvalue()


def render_image(prompt: str, *, seed: int, width: int, height: int, output_format: str = "png") -> bytes:
    """``render`` then ``encode``."""
    return encode(render(prompt, seed=seed, width=width, height=height), output_format)


def image_format(data: bytes) -> str:
    """Pillow's name for the format of ``data`` (``JPEG``, ``PNG``, ...); "" when unknown."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            return probe.format or ""
    except OSError:
        return ""


def decode(data: bytes) -> Image.Image:
    """Open an uploaded image fully; ``ValueError`` when it is not one (or too large)."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if width * height > MAX_DECODE_PIXELS:
                raise ValueError(f"image of {width}x{height} exceeds {MAX_DECODE_PIXELS} pixels")
            probe.load()
            image = ImageOps.exif_transpose(probe) or probe.copy()
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a decodable image: {exc}") from exc
    # CMYK, 16-bit and palette inputs are valid uploads; the transforms and encoders want RGB(A).
    if image.mode not in {"RGB", "RGBA"}:
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    return image


# --- transforms ---------------------------------------------------------------------------


def _mask_for(image: Image.Image, mask: Image.Image | None) -> Image.Image:
    """The edit mask: the given one, else the image's alpha, else a centred ellipse."""
    if mask is not None:
        return mask.convert("L").resize(image.size)
    if image.mode == "RGBA":
        return ImageOps.invert(image.getchannel("A"))
    centred = Image.new("L", image.size, 0)
    width, height = image.size
    ImageDraw.Draw(centred).ellipse((width * 0.3, height * 0.3, width * 0.7, height * 0.7), fill=255)
    return centred


def erase(image: Image.Image, mask: Image.Image | None, *, grow_mask: int = 5) -> Image.Image:
    """Blur the masked region away."""
    base = image.convert("RGB")
    region = _mask_for(image, mask).filter(ImageFilter.MaxFilter(2 * (grow_mask // 2) + 1))
    blurred = base.filter(ImageFilter.GaussianBlur(radius=max(4, min(base.size) // 20)))
    return Image.composite(blurred, base, region)


def inpaint(image: Image.Image, mask: Image.Image | None, *, prompt: str, seed: int) -> Image.Image:
    """Fill the masked region with a render of ``prompt``."""
    base = image.convert("RGB")
    patch = render(prompt, seed=seed, width=base.width, height=base.height)
    return Image.composite(patch, base, _mask_for(image, mask))


def outpaint(
    image: Image.Image, *, left: int, right: int, up: int, down: int, prompt: str, seed: int
) -> Image.Image:
    """Grow the canvas, fill the new border with a render of ``prompt``, keep the original in place."""
    base = image.convert("RGB")
    canvas = render(
        prompt or "outpaint", seed=seed, width=base.width + left + right, height=base.height + up + down
    )
    canvas.paste(base, (left, up))
    return canvas


def search_and_replace(image: Image.Image, *, prompt: str, seed: int) -> Image.Image:
    """Pretend the searched object sat in the centre and replace it with a render of ``prompt``."""
    return inpaint(image, None, prompt=prompt, seed=seed)


def recolor(image: Image.Image, *, prompt: str, seed: int) -> Image.Image:
    """Shift the hue of the centre region by an amount derived from ``prompt``."""
    base = image.convert("RGB")
    shift = _rng(prompt, seed).randrange(30, 330)
    hue, saturation, value = base.convert("HSV").split()
    hue = hue.point(lambda h: (h + shift * 256 // 360) % 256)
    shifted = Image.merge("HSV", (hue, saturation, value)).convert("RGB")
    return Image.composite(shifted, base, _mask_for(base, None))


def remove_background(image: Image.Image) -> Image.Image:
    """RGBA with the pixels close to the corners' colour made transparent."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    corners = np.array([rgb[0, 0], rgb[0, -1], rgb[-1, 0], rgb[-1, -1]]).mean(axis=0)
    distance = np.abs(rgb - corners).sum(axis=2)
    alpha = np.where(distance > 60, 255, 0).astype(np.uint8)
    rgba = image.convert("RGBA")
    rgba.putalpha(Image.fromarray(alpha, "L"))
    return rgba


def relight(
    image: Image.Image, *, background: Image.Image | None, light: Image.Image | None, prompt: str, seed: int
) -> Image.Image:
    """Cut the subject out, put it on the background (reference or render), tint with the light's colour."""
    subject = remove_background(image)
    if background is not None:
        scene = background.convert("RGB").resize(subject.size)
    else:
        scene = render(prompt or "background", seed=seed, width=subject.width, height=subject.height)
    scene.paste(subject, (0, 0), subject)
    if light is not None:
        tint = Image.new(
            "RGB", scene.size, tuple(int(c) for c in np.asarray(light.convert("RGB")).mean(axis=(0, 1)))
        )
        scene = Image.blend(scene, tint, 0.2)
    return scene


def resize_to_megapixels(image: Image.Image, megapixels: float, *, max_scale: float = 4.0) -> Image.Image:
    """Scale up to about ``megapixels`` (never more than ``max_scale`` x)."""
    scale = min(max_scale, math.sqrt(megapixels * 1_000_000 / (image.width * image.height)))
    scale = max(scale, 1.0)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def upscale(image: Image.Image, *, factor: int = 4, max_pixels: int = 16_777_216) -> Image.Image:
    """A real ``factor`` x resize (capped at ``max_pixels``), sharpened a little."""
    scale = min(float(factor), math.sqrt(max_pixels / (image.width * image.height)))
    resized = image.resize(
        (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
    )
    return resized.filter(ImageFilter.UnsharpMask(radius=2, percent=60))
