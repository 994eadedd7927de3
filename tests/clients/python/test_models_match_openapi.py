"""The SDK's hand-kept models name only fields the API's OpenAPI document has (a renamed or dropped
server field fails here, not in a partner's app); each keeps unknown fields, so a newer service
never breaks an older client; its studio names and catalogue routes are the document's. The TypeScript
client's types are generated from the same document (and ``StudioName`` is checked against it there)."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from pydantic import BaseModel
from support import ROOT

from imagestudio_client import _core as core
from imagestudio_client import _models as models

DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text())
SCHEMAS = DOCUMENT["components"]["schemas"]

#: Each SDK model and the schemas of the answers it reads (one model reads both upload answers).
PAIRS: list[tuple[type[BaseModel], tuple[str, ...]]] = [
    (models.JobData, ("JobRead",)),
    (models.JobOutput, ("JobOutput",)),
    (models.JobLinks, ("JobLinks",)),
    (models.Upload, ("UploadRead", "UploadPresigned")),
    (models.BatchJob, ("BatchJob",)),
    (models.Credits, ("CreditsRead",)),
    (models.LedgerEntry, ("LedgerEntry",)),
    (models.Asset, ("AssetRead",)),
    (models.WebhookEndpoint, ("WebhookEndpointWithSecret",)),
    (models.WebhookDelivery, ("WebhookDeliveryRead",)),
    (models.Persona, ("PersonaRead",)),
    (models.SocialPlan, ("SocialPlan",)),
    (models.FormatPlan, ("FormatPlan",)),
]


def _always_sent(schema: dict[str, Any]) -> set[str]:
    """The fields an answer always holds: required ones, and those with a default (sent as it is)."""
    defaults = {name for name, prop in schema["properties"].items() if "default" in prop}
    return set(schema.get("required", [])) | defaults


@pytest.mark.parametrize(("model", "schemas"), PAIRS, ids=[m.__name__ for m, _ in PAIRS])
def test_every_field_of_the_model_is_in_its_schemas(model: type[BaseModel], schemas: tuple[str, ...]) -> None:
    properties = set().union(*(SCHEMAS[name]["properties"] for name in schemas))
    always = set.intersection(*(_always_sent(SCHEMAS[name]) for name in schemas))
    fields = model.model_fields
    unknown = sorted(name for name in fields if name not in properties)
    assert not unknown, f"{model.__name__} reads {unknown}, which {schemas} do not have"
    # A field the model requires must be one the service always sends.
    demanded = sorted(name for name, field in fields.items() if field.is_required() and name not in always)
    assert not demanded, f"{model.__name__} requires {demanded}, which {schemas} may leave out"
    assert model.model_config.get("extra") == "allow"


def test_the_studio_names_are_the_documents() -> None:
    """A studio added to the service's registry fails here until the SDK names it (and its batch name)."""
    assert list(get_args(models.Studio)) == SCHEMAS["Studio"]["enum"]
    assert list(get_args(models.BatchStudio)) == SCHEMAS["BatchJob"]["properties"]["studio"]["enum"]


def test_each_studio_catalogue_is_a_get_of_that_studio() -> None:
    """``catalogue(studio)`` reaches every studio that has a catalogue GET (social's platforms have
    their own methods), each at a GET the document files under that studio."""
    prefix = "/api/image-studio"
    gets = {
        path.removeprefix(prefix): operation["tags"][0]
        for path, operations in DOCUMENT["paths"].items()
        for method, operation in operations.items()
        if method == "get" and operation["tags"][0] in SCHEMAS["Studio"]["enum"]
    }
    assert {studio: gets.get(path) for studio, path in core.CATALOGUES.items()} == {
        s: s for s in core.CATALOGUES
    }
    assert set(gets.values()) - {"social"} == set(core.CATALOGUES)
