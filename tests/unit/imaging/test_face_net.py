"""The learned face detector (MTCNN from the installed package) and the cascades it replaces when absent.

Scenes are the astronaut pasted on loud colour blocks (``test_crop_placement``'s helpers): the face's
box is known, so a missed, misplaced or invented face fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import pyvips
from test_crop_placement import Region, person, textured

from imagestudio.imaging import face_net, faces


def _image(pixels: np.ndarray) -> pyvips.Image:
    return pyvips.Image.new_from_array(pixels, interpretation="srgb")


def _holds_centre(region: Region, face: faces.Face) -> bool:
    cx, cy = face.left + face.width / 2, face.top + face.height / 2
    return region[0] <= cx <= region[2] and region[1] <= cy <= region[3]


def test_the_networks_come_from_the_installed_package() -> None:
    folder = face_net.model_folder()

    assert folder is not None and folder.name == face_net.MODEL_PACKAGE
    assert all((folder / name).stat().st_size > 20_000 for name in face_net.MODEL_FILES)
    assert face_net.detector() is not None


@pytest.mark.parametrize("angle", [-25.0, 0.0, 25.0])
def test_one_learned_pass_finds_upright_and_turned_faces(angle: float) -> None:
    canvas = textured(2400, 1600, 21)
    face = person(canvas, 220, 1500, 700, angle)

    found = faces.find_faces(_image(canvas))

    assert len(found) == 1 and _holds_centre(face, found[0])
    # The box is the face's size, not a head-and-shoulders one nor a feature's.
    assert 0.6 * (face[2] - face[0]) <= found[0].width <= 1.4 * (face[2] - face[0])


def test_busy_blocks_and_plain_products_give_no_face() -> None:
    assert faces.find_faces(_image(textured(2400, 1600, 23))) == ()
    assert faces.find_faces(_image(np.full((1200, 1800, 3), 240, np.uint8))) == ()


def test_without_the_model_package_the_cascades_run(monkeypatch: pytest.MonkeyPatch) -> None:
    canvas = textured(2400, 1600, 24)
    face = person(canvas, 220, 800, 700)
    monkeypatch.setattr(face_net, "MODEL_PACKAGE", "no_such_face_model_package")
    face_net.detector.cache_clear()
    try:
        assert face_net.detector() is None
        found = faces.find_faces(_image(canvas))
    finally:
        monkeypatch.undo()
        face_net.detector.cache_clear()

    assert len(found) == 1 and _holds_centre(face, found[0])


def test_learned_and_cascade_boxes_agree_on_an_upright_face() -> None:
    canvas = textured(2400, 1600, 25)
    person(canvas, 220, 1200, 800)
    image = _image(canvas)

    learned = faces.find_faces(image)
    cascades = faces.find_faces(image, learned=False)

    assert len(learned) == len(cascades) == 1
    (a,), (b,) = learned, cascades
    assert abs((a.left + a.width / 2) - (b.left + b.width / 2)) < 0.25 * b.width
    assert abs((a.top + a.height / 2) - (b.top + b.height / 2)) < 0.25 * b.width


def test_a_face_under_the_coarse_size_is_found_on_the_fine_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, list[float]]] = []
    propose = face_net.FaceNet.propose

    def spy(self: face_net.FaceNet, rgb: face_net.RGB, **kwargs: float) -> list[tuple[float, face_net.Boxes]]:
        levels = propose(self, rgb, **kwargs)
        calls.append((min(rgb.shape[:2]), [face for face, _ in levels]))
        return levels

    monkeypatch.setattr(face_net.FaceNet, "propose", spy)
    canvas = textured(3000, 2000, 22)
    face = person(canvas, 64, 900, 1300)  # 3.2 % of the shorter side: 11.5 px on the 360-px copy

    found = faces.find_faces(_image(canvas))

    assert any(_holds_centre(face, item) for item in found)
    (coarse_side, coarse_faces), (fine_side, fine_faces) = calls
    scale = fine_side / coarse_side
    # P-Net on the fine copy stops under the coarse copy's smallest face; the sizes both pyramids
    # hold come from the coarse copy, so the search still covers 20 px up to one step past it.
    assert max(fine_faces) < faces.MIN_WINDOW * scale
    sizes = sorted(
        fine_faces
        + [f * scale for f in coarse_faces if f * scale <= faces.MIN_WINDOW * scale / face_net.STEP * 1.001]
    )
    assert sizes[0] == faces.MIN_WINDOW and sizes[-1] >= faces.MIN_WINDOW * scale / face_net.STEP * 0.99
    assert all(b / a <= 1 / face_net.STEP * 1.01 for a, b in zip(sizes, sizes[1:], strict=False))
