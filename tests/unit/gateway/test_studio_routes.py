"""Every studio's routes come from the registry (``gateway/routes/studios.py``): the committed document
has each registry route's POST as its face declares it, and each catalogue GET answering its model."""

from __future__ import annotations

import inspect
import json
import typing

from support import ROOT

from imagestudio.studios.registry import catalogues_of, routes_of, studio_names
from imagestudio.urls import API_PREFIX

DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text())


def test_every_registry_route_has_its_post_as_its_face_declares_it() -> None:
    for name in studio_names():
        for route in routes_of(name):
            operation = DOCUMENT["paths"][API_PREFIX + route.ROUTE.path]["post"]
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert operation["tags"] == [name]
            assert operation["operationId"].startswith(f"{name}_"), operation["operationId"]
            assert operation["description"] == inspect.cleandoc(route.ROUTE.doc)
            assert body["title"] == route.Request.__name__
            assert "202" in operation["responses"]


def test_every_catalogue_get_answers_its_handlers_model() -> None:
    served = 0
    for name in studio_names():
        for catalogue in catalogues_of(name):
            operation = DOCUMENT["paths"][API_PREFIX + catalogue.path]["get"]
            model = typing.get_type_hints(catalogue.read)["return"]
            answer = operation["responses"]["200"]["content"]["application/json"]
            assert operation["operationId"].startswith(f"{name}_") and operation["tags"] == [name]
            assert answer["schema"] == {"$ref": f"#/components/schemas/{model.__name__}"}
            assert operation["description"] == inspect.cleandoc(catalogue.read.__doc__ or "")
            served += 1
    assert served == 8  # edit, upscale and control 1 each, social 3, compress 2 (convert's options, presets)
