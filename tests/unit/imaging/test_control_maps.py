"""The control maps: structure's Canny edge map and sketch's cleaned line art."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from imagestudio.errors import InvalidImage
from imagestudio.imaging.control import edge_map, line_art


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _grey(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return np.asarray(image.convert("L"))


def test_edges_lie_on_the_shapes_boundary_and_nowhere_in_flat_areas() -> None:
    image = Image.new("RGB", (200, 160), (40, 90, 200))
    ImageDraw.Draw(image).rectangle((50, 40, 150, 120), fill=(240, 200, 30))
    edges = _grey(edge_map(_png(image)))
    assert edges.shape == (160, 200)
    assert set(np.unique(edges)) <= {0, 255}
    assert (edges[60:100, 70:130] == 0).all() and (edges[:30, :] == 0).all()  # flat inside and outside
    assert (edges[38:43, 60:140] == 255).any(axis=0).mean() > 0.95  # the top side is traced along its length


def test_explicit_thresholds_decide_which_contrast_is_an_edge() -> None:
    image = Image.new("L", (120, 80), 100)
    ImageDraw.Draw(image).rectangle((0, 0, 59, 79), fill=120)  # a faint step of 20 grey levels
    faint = _grey(edge_map(_png(image), low=5, high=10))
    ignored = _grey(edge_map(_png(image), low=200, high=250))
    assert (faint == 255).any() and not (ignored == 255).any()


def test_line_art_keeps_lines_drops_specks_and_whitens_shaded_paper() -> None:
    # Paper darkening from left to right (a phone photo), a pen line, and single-pixel dust.
    shade = np.tile(np.linspace(245, 150, 300, dtype=np.float32), (200, 1))
    image = Image.fromarray(shade.astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.line((20, 100, 280, 100), fill=(20, 20, 20), width=3)
    for x, y in ((40, 30), (250, 170), (150, 20)):
        draw.point((x, y), fill=(90, 90, 90))
    art = _grey(line_art(_png(image)))
    assert art.shape == (200, 300) and set(np.unique(art)) <= {0, 255}
    assert (art[99:102, 30:270] == 0).any(axis=0).all()  # the line, unbroken across the shading
    assert (art[:80, :] == 255).all()  # shaded paper and dust are white
    assert (art[130:, :] == 255).all()


def test_transparent_sketches_are_drawn_on_white() -> None:
    image = Image.new("RGBA", (120, 90), (0, 0, 0, 0))
    ImageDraw.Draw(image).line((10, 45, 110, 45), fill=(0, 0, 0, 255), width=3)
    art = _grey(line_art(_png(image)))
    assert (art[44:47, 20:100] == 0).any(axis=0).all() and (art[:30, :] == 255).all()


def test_a_damaged_upload_is_an_invalid_image_naming_the_field() -> None:
    data = _png(Image.new("RGB", (64, 64), (1, 2, 3)))[:40]
    with pytest.raises(InvalidImage):
        edge_map(data)
