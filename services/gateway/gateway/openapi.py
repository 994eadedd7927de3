"""The OpenAPI document as a product: stable operation ids, summaries, and typed problem responses.

``create_app`` passes :func:`operation_id` to FastAPI and installs :func:`install_openapi`; the
committed copy is ``docs/openapi.json``, written by ``imagestudio openapi --write docs/openapi.json``
(``make openapi``) and checked against the code by ``tests/unit/gateway/test_openapi_document.py``.
"""

from __future__ import annotations

import json
import typing
from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field

from gateway.problems import PROBLEM_JSON
from imagestudio.errors import PROBLEM_BASE, IdempotentReplay, ImageStudioError, JobError, ProviderError


class Problem(BaseModel):
    """An RFC 9457 problem: every error the API answers with has this shape."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": PROBLEM_BASE + "not-found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "job job_01J9Z6X3 not found",
                    "instance": "/api/image-studio/jobs/job_01J9Z6X3",
                }
            ]
        },
    )

    type: str = Field(description=f"A URI naming the problem type, under {PROBLEM_BASE}")
    title: str = Field(description="A short summary of the problem type")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong with this request")
    instance: str | None = Field(default=None, description="The request path")
    field: str | None = Field(default=None, description="Validation problems: the first invalid field")
    errors: list[dict[str, str]] | None = Field(
        default=None, description="Validation problems: every invalid field with its message"
    )
    trace_id: str | None = Field(default=None, description="Server errors: the trace id to quote")


def operation_id(route: APIRoute) -> str:
    """``<tag>_<name>``: the route function's name without the words its tag already says.

    ``get_job`` under ``jobs`` is ``jobs_get``, ``optimize`` under ``social`` is
    ``social_optimize``: readable, and stable as long as the function keeps its name.
    """
    tag = str(route.tags[0]) if route.tags else "default"
    said = {tag, tag.removesuffix("s")}
    words = [word for word in route.name.split("_") if word not in said]
    return "_".join([tag, *(words or [route.name])])


def example_response(example: Any, *, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route answering a plain dict: its JSON example (from the real catalogue)."""
    return {status: {"content": {"application/json": {"example": example}}}}


def models_in(annotation: Any) -> set[type[BaseModel]]:
    """The Pydantic models an annotation names, and those their fields name, all the way down."""
    found: set[type[BaseModel]] = set()
    pending = [annotation]
    while pending:
        current = pending.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            if current not in found:
                found.add(current)
                pending.extend(field.annotation for field in current.model_fields.values())
        else:
            pending.extend(typing.get_args(current))
    return found


def _restore_examples(app: FastAPI, document: dict[str, Any]) -> None:
    """Put the examples back as written: ``get_openapi`` drops every null, inside examples too, which
    leaves a required nullable field (``"next_attempt_at": null``) missing from its example."""
    models: dict[str, type[BaseModel]] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        body = route.body_field.field_info.annotation if route.body_field is not None else None
        models |= {model.__name__: model for model in models_in(route.response_model) | models_in(body)}
        operations = document["paths"].get(context.path_format, {})
        for method in route.methods or ():
            responses = operations.get(method.lower(), {}).get("responses", {})
            for code, response in route.responses.items():
                for media_type, media in response.get("content", {}).items():
                    if "example" in media and str(code) in responses:
                        responses[str(code)]["content"][media_type]["example"] = jsonable_encoder(
                            media["example"]
                        )
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        model = models.get(name.removesuffix("-Input").removesuffix("-Output"))
        if model is not None and "examples" in schema:
            schema["examples"] = jsonable_encoder(model.model_json_schema()["examples"])


def _problem_types() -> dict[int, list[type[ImageStudioError]]]:
    """Every error class a request can be answered with, grouped by HTTP status.

    Job and provider errors reach clients on the job (``error``), not as an HTTP answer.
    """
    found: dict[int, list[type[ImageStudioError]]] = {}
    pending: list[type[ImageStudioError]] = [ImageStudioError]
    while pending:
        cls = pending.pop(0)
        if issubclass(cls, JobError | ProviderError | IdempotentReplay):
            continue
        pending.extend(cls.__subclasses__())
        if 400 <= cls.status < 600 and all(other.slug != cls.slug for other in found.get(cls.status, [])):
            found.setdefault(cls.status, []).append(cls)
    return found


def _problem_examples(types: dict[int, list[type[ImageStudioError]]]) -> dict[str, Any]:
    """``components/examples``: one problem body per type the error tree names, keyed by its slug."""
    examples: dict[str, Any] = {}
    for errors in types.values():
        for error in errors:
            body = {"type": PROBLEM_BASE + error.slug, "title": error.title, "status": error.status}
            examples[error.slug] = {"summary": error.title, "value": body | {"detail": error.title}}
    examples["validation-failed"] = {
        "summary": "Validation failed",
        "value": {
            "type": PROBLEM_BASE + "validation-failed",
            "title": "Validation failed",
            "status": 422,
            "detail": "quality: Input should be less than or equal to 100",
            "field": "quality",
            "errors": [{"field": "quality", "message": "Input should be less than or equal to 100"}],
        },
    }
    return examples


def _summary(description: str) -> str:
    """A docstring's first sentence (FastAPI's own summary is the title-cased function name)."""
    first = description.strip().split("\n\n")[0].replace("\n", " ")
    return first.split(". ")[0].rstrip(".")


def _hoist_request_defs(document: dict[str, Any], components: dict[str, Any]) -> None:
    """Move the ``$defs`` of hand-declared request bodies (a studio's JSON and form schemas) into
    the components and point their ``#/$defs/`` references there: a reference local to an inline
    schema is one generators (openapi-typescript) cannot resolve."""
    bodies = [
        media["schema"]
        for operations in document.get("paths", {}).values()
        for operation in operations.values()
        if isinstance(operation, dict)
        for media in operation.get("requestBody", {}).get("content", {}).values()
        if isinstance(media.get("schema"), dict) and "$defs" in media["schema"]
    ]
    for schema in bodies:
        for name, definition in schema.pop("$defs").items():
            components.setdefault(name, definition)
    if bodies:
        _point_refs_at_components(document)


def _point_refs_at_components(node: Any) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            node["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
        for value in node.values():
            _point_refs_at_components(value)
    elif isinstance(node, list):
        for value in node:
            _point_refs_at_components(value)


def build_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of ``app``, completed: summaries, and a schema and examples per problem."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
    )
    _restore_examples(app, document)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    _hoist_request_defs(document, components)
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    types = _problem_types()
    examples = _problem_examples(types)
    document["components"]["examples"] = examples
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if summary := _summary(operation.get("description", "")):
                operation["summary"] = summary
            for code, response in operation.get("responses", {}).items():
                if not code.isdigit() or int(code) < 400:
                    continue
                status = int(code)
                named = [error.slug for error in types.get(status, [])]
                media: dict[str, Any] = {"schema": problem_ref}
                if named:
                    media["examples"] = {
                        slug: {"$ref": f"#/components/examples/{slug}"} for slug in dict.fromkeys(named)
                    }
                response["content"] = {PROBLEM_JSON: media}
                slugs = ", ".join(f"`{e.slug}`" for e in types.get(status, []))
                if slugs and "problem types:" not in response.get("description", ""):
                    response["description"] = f"{response.get('description', '')} (problem types: {slugs})"
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`build_document` at ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def render(app: FastAPI) -> str:
    """The committed form of the document: indented JSON, one trailing newline."""
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"
