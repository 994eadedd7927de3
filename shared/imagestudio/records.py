"""Catalogues kept as data: a TOML file beside its module, read into frozen records by one loader.

Templates, control operations and upscale presets are rows of facts, not code: written as Python
calls they were thirty-odd copies of one constructor's keywords. Each now lives in a ``.toml`` file
in its package (shipped as package data) and :func:`load_records` reads one table of it into the
module's dataclass, validated by pydantic on the way (a misspelt key or a wrong type fails the
import, naming the record), so the module keeps its types and the file keeps only the facts.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from importlib.resources import files
from typing import Any, TypeVar

from pydantic import TypeAdapter

__all__ = ["load_records", "read_data"]

T = TypeVar("T")


def read_data(package: str | None, file: str) -> dict[str, Any]:
    """The parsed TOML file ``file`` shipped in ``package`` (a module passes its ``__package__``)."""
    assert package, f"{file} is read from a package"
    return tomllib.loads(files(package).joinpath(file).read_text(encoding="utf-8"))


def load_records(record: type[T], rows: list[dict[str, Any]]) -> dict[str, T]:
    """``rows`` (a TOML array of tables) as ``record`` instances by their ``id``, in file order.

    Strict about keys: a key the record does not have is refused, not dropped.
    """
    known = {field.name for field in fields(record)}  # type: ignore[arg-type]
    for row in rows:
        if unknown := sorted(row.keys() - known):
            raise ValueError(f"{record.__name__} {row.get('id')!r} has no field {', '.join(unknown)}")
    adapter = TypeAdapter(record)
    loaded = [adapter.validate_python(row) for row in rows]
    return {item.id: item for item in loaded}  # type: ignore[attr-defined]
