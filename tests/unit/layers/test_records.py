"""Catalogues kept as data: the one loader refuses what the record does not hold, and the files ship."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest
from pydantic import ValidationError

from imagestudio.records import load_records, read_data

SHARED = Path(__file__).resolve().parents[3] / "shared"


@dataclass(frozen=True)
class _Record:
    id: str
    tags: tuple[str, ...]
    quality: int = 90


def test_rows_become_records_by_id_in_file_order_with_lists_as_tuples() -> None:
    records = load_records(_Record, [{"id": "b", "tags": ["x", "y"]}, {"id": "a", "tags": [], "quality": 95}])

    assert list(records) == ["b", "a"]
    assert records["b"] == _Record(id="b", tags=("x", "y"), quality=90)
    assert records["a"].quality == 95


def test_a_key_the_record_does_not_have_is_refused_naming_the_record() -> None:
    with pytest.raises(ValueError, match="_Record 'b' has no field qualty"):
        load_records(_Record, [{"id": "b", "tags": [], "qualty": 95}])


def test_a_value_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        load_records(_Record, [{"id": "b", "tags": [], "quality": "high"}])


def test_every_catalogue_file_is_shipped_as_package_data() -> None:
    """A ``.toml`` the package-data globs miss would be absent from a built wheel (the images)."""
    globs = tomllib.loads((SHARED / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = SHARED / "imagestudio"
    data_files = [path.relative_to(package).as_posix() for path in package.rglob("*.toml")]

    assert data_files
    for name in data_files:
        assert any(fnmatch(name, glob) for glob in globs["imagestudio"]), name
        assert read_data(f"imagestudio.{Path(name).parent.as_posix().replace('/', '.')}", Path(name).name)
