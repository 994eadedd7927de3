"""The OpenAPI document is a product: committed, current, and complete for partner code generators."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, TypeAdapter
from support import ROOT

from gateway.app import create_app
from gateway.openapi import Problem, models_in, render
from gateway.routes.batch import BatchCreate, BatchRead
from imagestudio.jobs.schemas import JobPage, JobRead
from imagestudio.personas.schemas import PersonaCreate, PersonaRead
from imagestudio.studios.create import CreateRequest
from imagestudio.studios.edit.request import EditRequest
from imagestudio.studios.social import SocialOptimizeRequest
from imagestudio.studios.upscale import UpscaleRequest
from imagestudio.uploads.schemas import UploadPresign, UploadRead
from imagestudio.webhooks.schemas import WebhookEndpointCreate, WebhookEndpointWithSecret

#: Where the committed document lives, relative to the repository root, and the command that rewrites it.
DOCUMENT_PATH = "docs/openapi.json"
REGENERATE = "make openapi  (or: imagestudio openapi --write docs/openapi.json)"
#: Studio request bodies: a dependency reads them (JSON or multipart), so no route field names them.
STUDIO_REQUESTS = (SocialOptimizeRequest, CreateRequest, EditRequest, UpscaleRequest)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app().openapi()


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every route of ``app``, through the routers it includes."""
    contexts = iter_route_contexts(app.routes)
    return [c.original_route for c in contexts if isinstance(c.original_route, APIRoute)]


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        op["operationId"]: op
        for item in document["paths"].values()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    if media.get("example") is not None or media.get("examples"):
        return True
    schema = _resolve(document, media.get("schema", {}))
    return bool(schema.get("examples")) or any(
        _resolve(document, option).get("examples") for option in schema.get("anyOf", [])
    )


def test_committed_document_is_current(document: dict[str, Any]) -> None:
    committed = (ROOT / DOCUMENT_PATH).read_text()
    assert committed == render(create_app()), f"{DOCUMENT_PATH} is stale; regenerate it: {REGENERATE}"


def test_operation_ids_are_unique_and_readable(document: dict[str, Any]) -> None:
    ids = [
        op["operationId"]
        for item in document["paths"].values()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", i) for i in ids), ids
    assert {"jobs_get", "jobs_list", "social_optimize", "create_images", "uploads_create"} <= set(ids)


def test_every_operation_has_a_summary_and_tag(document: dict[str, Any]) -> None:
    for operation_id, op in _operations(document).items():
        assert op.get("summary"), operation_id
        assert op.get("tags"), operation_id


def test_every_error_response_is_a_typed_problem(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    for operation_id, op in _operations(document).items():
        errors = {code: r for code, r in op["responses"].items() if code.isdigit() and int(code) >= 400}
        assert errors or op["tags"] == ["health"], f"{operation_id} declares no error response"
        for code, response in errors.items():
            (media_type,) = response["content"]
            assert media_type == "application/problem+json", (operation_id, code)
            media = response["content"][media_type]
            assert media["schema"] == {"$ref": "#/components/schemas/Problem"}, (operation_id, code)
            for ref in media.get("examples", {}).values():
                example = document["components"]["examples"][ref["$ref"].rsplit("/", 1)[1]]["value"]
                assert example["status"] == int(code)
                assert example["type"].startswith("https://imagestudio.dev/problems/")


def test_job_submissions_declare_the_admission_problems(document: dict[str, Any]) -> None:
    operations = _operations(document)
    for operation_id in ("social_optimize", "create_images", "edit_submit", "upscale_submit"):
        assert {"401", "402", "413", "422", "429"} <= set(operations[operation_id]["responses"]), operation_id


def test_every_get_answer_has_a_typed_schema(document: dict[str, Any]) -> None:
    """A GET's success body is a named model (or a list of one): a client generator gets its fields."""
    untyped = []
    for path, item in document["paths"].items():
        if "get" not in item:
            continue
        for code, response in item["get"]["responses"].items():
            if not code.startswith("2"):
                continue
            for media_type, media in response.get("content", {}).items():
                schema = media.get("schema", {})
                if media_type == "application/json":
                    typed = "$ref" in schema.get("items", schema)
                else:  # a stream: its text, described
                    typed = bool(schema.get("type") and schema.get("description"))
                if not typed:
                    untyped.append(f"GET {path} {code} {media_type}: {schema}")
    assert not untyped, "\n".join(untyped)


def test_every_catalogue_answer_keeps_its_json() -> None:
    """The examples are the real catalogues: through the route's model, each comes out byte for byte."""
    checked = 0
    for route in api_routes(create_app()):
        if "GET" not in route.methods or route.response_model is None:
            continue
        adapter: TypeAdapter[Any] = TypeAdapter(route.response_model)
        example = route.responses.get(200, {}).get("content", {}).get("application/json", {}).get("example")
        if example is None:
            continue
        plain = json.loads(json.dumps(example))
        answered = adapter.dump_python(
            adapter.validate_python(plain), mode="json", exclude_unset=route.response_model_exclude_unset
        )
        assert json.dumps(answered) == json.dumps(plain), route.path
        checked += 1
    assert checked >= 15


def test_every_operation_has_request_and_response_examples(document: dict[str, Any]) -> None:
    missing = []
    for operation_id, op in _operations(document).items():
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            if media_type == "application/json" and not _has_example(document, media):
                missing.append(f"{operation_id}: no request example")
        code, success = next((code, r) for code, r in op["responses"].items() if code.startswith("2"))
        if not success.get("content"):
            assert code == "204", f"{operation_id}: a {code} answer without a body"
            continue
        for media_type, media in success["content"].items():
            if not _has_example(document, media):
                missing.append(f"{operation_id}: no {code} {media_type} example")
    assert not missing, "\n".join(missing)


def _route_models() -> dict[str, type[BaseModel]]:
    """Every model a route reads or answers with, by schema name (studio bodies are read by a dependency)."""
    models: set[type[BaseModel]] = {Problem, *STUDIO_REQUESTS}
    for request in STUDIO_REQUESTS:  # and the models their bodies name (a custom social format)
        models |= models_in(request)
    for route in api_routes(create_app()):
        models |= models_in(route.response_model)
        if route.body_field is not None:
            models |= models_in(route.body_field.field_info.annotation)
    return {model.__name__: model for model in models}


def test_every_schema_example_validates_against_its_model(document: dict[str, Any]) -> None:
    models = _route_models()
    exampled = {
        name: schema for name, schema in document["components"]["schemas"].items() if "examples" in schema
    }
    assert len(exampled) > 20
    for name, schema in exampled.items():
        model = models.get(name.removesuffix("-Input").removesuffix("-Output"))
        assert model is not None, f"{name}: examples, but no route model to check them against"
        for example in schema["examples"]:
            model.model_validate(json.loads(json.dumps(example)))


def test_every_route_example_validates_against_its_response_model() -> None:
    checked = 0
    for route in api_routes(create_app()):
        if route.response_model is None:
            continue
        adapter: TypeAdapter[Any] = TypeAdapter(route.response_model)
        for code, response in route.responses.items():
            if str(code).startswith("2") and "content" in response:
                example = response["content"].get("application/json", {}).get("example")
                if example is not None:
                    adapter.validate_python(json.loads(json.dumps(example)))
                    checked += 1
    assert checked >= 10


@pytest.mark.parametrize(
    "model",
    [
        SocialOptimizeRequest,
        CreateRequest,
        EditRequest,
        UpscaleRequest,
        BatchCreate,
        BatchRead,
        JobRead,
        JobPage,
        UploadRead,
        UploadPresign,
        WebhookEndpointCreate,
        WebhookEndpointWithSecret,
        PersonaCreate,
        PersonaRead,
    ],
)
def test_examples_are_valid_instances(model: type[BaseModel]) -> None:
    examples = model.model_json_schema()["examples"]
    assert examples
    for example in examples:
        model.model_validate(json.loads(json.dumps(example)))
