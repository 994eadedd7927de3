"""A studio's routes as its face declares them: the ``POST`` that submits a job and the catalogue ``GET``s.

The gateway builds every studio's routes from these (``gateway/routes/studios.py``), so a new studio
needs no gateway file: the face says where its route is, the name its operation takes
(``<studio>_<name>`` in ``docs/openapi.json``) and what the API document says of it; the body is its
``Request``. A catalogue is a function of the face (its name, docstring, path parameters and answer
model are the operation) and an example built from the real catalogue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from imagestudio.studios.common.routes import ProviderStatus


@dataclass(frozen=True)
class SubmitRoute:
    """A studio's ``POST``: its path, its handler's name and the description (a docstring's form)."""

    path: str
    name: str
    doc: str
    #: Answers beside the 202 and the submit problems (the plan route's 200 under ``Prefer: wait``).
    responses: Mapping[int | str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CatalogueRoute:
    """A ``GET`` answering from the studio's own tables, to every holder of an API key."""

    path: str
    #: The handler: its name, docstring, path parameters and return model are the operation.
    read: Callable[..., BaseModel]
    #: The OpenAPI example: the real catalogue, every provider shown as :func:`example_status`.
    example: Callable[[], Any]
    #: Leave unset fields out of the answer (edit's general_edit alone says its per-model credits).
    exclude_unset: bool = False


def example_status(name: str) -> ProviderStatus:
    """A provider as the catalogue examples show it: reachable and healthy (here, its simulator).

    The catalogues' examples are the real ones, built without asking the database or a provider.
    """
    return ProviderStatus(configured=True, healthy=True, simulated=True)
