"""Stability's v2beta OpenAPI (the copy in docs/vendor/): validate a request our client sends and an answer
the simulator gives against it, with ``jsonschema``."""

from __future__ import annotations

import email.parser
import email.policy
import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema

SPEC_PATH = Path(__file__).resolve().parents[3] / "docs/vendor/stability-v2beta-openapi.json"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())


def _resolve(node: Any) -> Any:
    """``node`` with ``$ref`` into this document followed."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _operation(request: httpx.Request) -> tuple[str, dict[str, Any]]:
    path = request.url.path
    if path.startswith("/v2beta/results/"):
        return "/v2beta/results/{id}", SPEC["paths"]["/v2beta/results/{id}"][request.method.lower()]
    assert path in SPEC["paths"], f"{path} is not in Stability's OpenAPI"
    return path, SPEC["paths"][path][request.method.lower()]


def _form_fields(request: httpx.Request) -> dict[str, str | bytes]:
    """The multipart fields of ``request``: text as str, files as bytes."""
    head = f"content-type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.read())
    fields: dict[str, str | bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[str(name)] = payload if part.get_filename() else payload.decode()
    return fields


def _typed(value: str | bytes, schema: dict[str, Any]) -> Any:
    """A form field read the way the schema types it (a file stays a placeholder string)."""
    if isinstance(value, bytes):
        return "<binary>"
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return value.lower() == "true"
    except ValueError:
        return value  # left as text: the schema's type check names it
    return value


def validate_request(request: httpx.Request) -> None:
    """Raise ``jsonschema.ValidationError`` when the request breaks the operation's documented body."""
    _, operation = _operation(request)
    if "requestBody" not in operation:
        return
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    properties = schema["properties"]
    instance = {
        name: _typed(value, properties.get(name, {})) for name, value in _form_fields(request).items()
    }
    jsonschema.validate(instance, schema)


def validate_response(request: httpx.Request, response: httpx.Response) -> None:
    """Raise when the answer's status, ``finish-reason`` header or JSON body is not what the document says."""
    path, operation = _operation(request)
    documented = operation["responses"]
    assert str(response.status_code) in documented, f"{path} answered {response.status_code}, not documented"
    answer = _resolve(documented[str(response.status_code)])
    for name, header in answer.get("headers", {}).items():
        if name in response.headers:
            value = _typed(response.headers[name], _resolve(header["schema"]))
            jsonschema.validate(value, _resolve(header["schema"]))
    content_type = response.headers.get("content-type", "").split(";")[0]
    if content_type == "application/json":
        schema = _resolve(answer["content"]["application/json"]["schema"])
        jsonschema.validate(response.json(), schema)
    else:
        assert content_type.startswith("image/") and "image/*" in answer["content"], (path, content_type)
