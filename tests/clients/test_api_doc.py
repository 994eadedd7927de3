"""docs/api.md names every studio a batch accepts, as the code declares them (the OpenAPI
document is generated from the code, and a test keeps it fresh)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_api_doc_lists_every_batch_studio_the_code_accepts() -> None:
    schemas = json.loads((ROOT / "docs" / "openapi.json").read_text())["components"]["schemas"]
    accepted = schemas["BatchJob"]["properties"]["studio"]["enum"]
    text = " ".join((ROOT / "docs" / "api.md").read_text().split())
    listed = re.search(r"`POST /jobs/batch` submits 1 to 100 jobs at once, each a studio \(([^)]*)\)", text)
    assert listed, "docs/api.md no longer says which studios a batch takes"
    assert sorted(re.findall(r"`(\w+)`", listed.group(1))) == sorted(accepted)
