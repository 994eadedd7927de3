"""The docs hold together: every page is in docs/index.md, every relative link and anchor resolves,
and no table row or list item is kept in two places (one copy of each table and list)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from support import ROOT

from imagestudio.studios.registry import STUDIOS

DOCS = ROOT / "docs"
#: Every Markdown page the links and the one-copy rule are checked over.
PAGES = sorted(
    [ROOT / "README.md", ROOT / "deploy" / "README.md", ROOT / "bench" / "README.md", *DOCS.rglob("*.md")]
)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def prose(page: Path) -> str:
    """The page without its fenced code blocks (a `# comment` in a bash block is not a heading)."""
    return re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", prose(page), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_docs_page_is_listed_in_the_index() -> None:
    index = (DOCS / "index.md").read_text()
    listed = {(DOCS / target).resolve() for target in LINK.findall(index) if "://" not in target}
    pages = {p.resolve() for p in DOCS.rglob("*.md") if p.name != "index.md"}
    assert pages <= listed, sorted(str(p.relative_to(ROOT)) for p in pages - listed)


def test_every_relative_link_and_anchor_resolves() -> None:
    broken = []
    for page in PAGES:
        for target in LINK.findall(prose(page)):
            if "://" in target or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, broken


def test_no_table_row_or_list_item_is_kept_in_two_places() -> None:
    places: defaultdict[str, set[str]] = defaultdict(set)
    for page in PAGES:
        for line in prose(page).splitlines():
            row = line.strip()
            table_row = row.startswith("|") and not set(row) <= set("|-: ") and row.count("|") > 2
            if table_row or (row.startswith("- ") and len(row) > 60):
                places[row].add(str(page.relative_to(ROOT)))
    headers = {"| Setting | Default | Meaning |", "| figure | value |"}
    repeated = {row: sorted(where) for row, where in places.items() if len(where) > 1 and row not in headers}
    assert not repeated, repeated


def test_the_readme_stays_the_front_door() -> None:
    readme = (ROOT / "README.md").read_text()
    for heading in ("## The two commands", "## Walk-through", "## Operating it, in short", "## Layout"):
        assert heading in readme, heading
    assert "docs/chaos.md" in readme and "SIGKILL" in readme  # the chaos summary, issue 12
    assert "\n## Settings" not in readme and "### Dashboard panels" not in readme


def test_the_readme_shows_a_screenshot_of_each_studio_in_the_console() -> None:
    """Each studio page in the console's nav has its committed screenshot shown in the README."""
    nav = (ROOT / "services/gateway/gateway/console/static/index.html").read_text()
    studios = [page for page in re.findall(r'href="#/([a-z]+)"', nav) if page in STUDIOS]
    assert {"create", "edit", "social"} <= set(studios)
    console = prose(ROOT / "README.md").split("## Console", 1)[1].split("\n## ", 1)[0]
    for studio in studios:
        assert (ROOT / "docs/console" / f"{studio}.png").is_file(), (
            f"run tests/e2e/console_screenshots.py ({studio})"
        )
        assert f"(docs/console/{studio}.png)" in console, studio
