"""The attention map made once per photo answers as libvips' ``smartcrop(interesting="attention")`` for every size."""

from __future__ import annotations

import numpy as np
import pytest
import pyvips
from PIL import Image, ImageDraw

from imagestudio.imaging.attention import AttentionMap


def _small_copy(seed: int, width: int, height: int) -> pyvips.Image:
    """A grainy photo-like copy with a saturated blob, a skin-coloured patch and a dark corner."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(rng.normal(120, 25, (height, width, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.6, height * 0.2, width * 0.8, height * 0.5), fill=(220, 30, 40))
    draw.rectangle((width * 0.1, height * 0.5, width * 0.3, height * 0.8), fill=(225, 180, 150))
    draw.rectangle((0, 0, width * 0.2, height * 0.2), fill=(3, 3, 3))
    array = np.asarray(image)
    return pyvips.Image.new_from_memory(array.tobytes(), width, height, 3, "uchar").copy(
        interpretation="srgb"
    )


@pytest.mark.parametrize(
    ("seed", "width", "height"), [(1, 256, 171), (2, 144, 256), (3, 256, 64), (4, 200, 200)]
)
def test_centre_equals_libvips_smartcrop_for_every_crop_size(seed: int, width: int, height: int) -> None:
    small = _small_copy(seed, width, height).copy_memory()
    scores = AttentionMap(small)
    sizes = {(w, h) for w in range(1, width + 1, 7) for h in (1, height // 3, height // 2, height)}
    for crop_w, crop_h in sorted(sizes):
        _, found = small.smartcrop(
            crop_w, crop_h, interesting="attention", attention_x=True, attention_y=True
        )

        assert scores.centre(crop_w, crop_h) == (found["attention_x"], found["attention_y"]), (crop_w, crop_h)
