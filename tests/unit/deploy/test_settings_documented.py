"""Every setting the code reads has a row in docs/settings.md, the one settings table."""

from __future__ import annotations

import re

from deploy_support import ROOT

from imagestudio.config import Settings


def documented_settings() -> set[str]:
    names: set[str] = set()
    for line in (ROOT / "docs" / "settings.md").read_text().splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            first = line.split("|")[1]
            names |= {n.removeprefix("IMAGESTUDIO_") for n in re.findall(r"`([A-Z0-9_]+)`", first)}
    return names


def test_every_setting_is_in_the_settings_page() -> None:
    fields = Settings.model_fields
    missing = sorted(name for name in fields if name.upper() not in documented_settings())
    rows = "\n".join(
        f"| `{name.upper()}` | `{fields[name].default}` | {fields[name].description or '...'} |"
        for name in missing
    )
    assert not missing, f"docs/settings.md lacks these settings; add rows like:\n{rows}"
