"""The SDK's hand-kept models name only fields the API's OpenAPI document has (a renamed or dropped
server field fails here, not in a partner's app); each keeps unknown fields, so a newer service
never breaks an older client. The TypeScript client's types are generated from the same document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel
from support import ROOT

from imagestudio_client import _models as models

SCHEMAS = json.loads((ROOT / "docs" / "openapi.json").read_text())["components"]["schemas"]

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
