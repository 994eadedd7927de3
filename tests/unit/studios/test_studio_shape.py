"""Every studio has the one shape: its registry name, its request model, and a catalogue read from that model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagestudio import studios
from imagestudio.providers.schemas import MAX_SEED
from imagestudio.studios import control, edit, upscale
from imagestudio.studios.registry import STUDIOS, studio_names


def test_every_studio_folder_is_registered_under_its_own_name() -> None:
    rooms = Path(studios.__file__).parent
    folders = {p.parent.name for p in rooms.glob("*/__init__.py")} - {"common"}

    assert set(studio_names()) == folders
    assert sorted(STUDIOS) == sorted([*folders, "convert"])
    for name, studio in STUDIOS.items():
        # convert is the compress studio's second route (its own request): its jobs are compress jobs.
        assert studio.name == ("compress" if name == "convert" else name)
        assert callable(studio.check) and callable(studio.prepare) and callable(studio.run)


@pytest.mark.parametrize("studio", [edit, upscale, control], ids=["edit", "upscale", "control"])
def test_catalogue_fields_are_the_request_models_fields(studio: Any) -> None:
    fields = studio.FIELDS
    model = studio.Request
    assert set(fields) <= set(model.model_fields)
    for name in model.image_fields:
        assert fields[name]["type"] == "file"
    assert fields["seed"]["maximum"] == MAX_SEED  # the one Seed type's range, every provider's


def test_the_registry_names_every_studio_of_the_one_list_and_only_routes_besides() -> None:
    from imagestudio.messaging import QUEUES, Studio

    assert {studio.name for studio in STUDIOS.values()} == set(Studio)
    assert set(STUDIOS) - set(Studio) == {"convert"}  # a second route of compress
    assert set(QUEUES) == set(Studio) | {"webhooks"}
