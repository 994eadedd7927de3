"""Generate the Python SDK's synchronous client from its asynchronous one, or check that it is up to date.

``clients/python/imagestudio_client/_async.py`` and ``_async_library.py`` are the sources of
``_sync.py`` and ``_sync_library.py``. unasync (python-trio's token rewriter, the tool httpcore
keeps its two clients with) drops ``async``/``await`` and renames the names below; ruff then sorts
the imports and formats the result as it does the rest of the tree::

    .venv/bin/python scripts/unasync_client.py          # rewrite the _sync files
    .venv/bin/python scripts/unasync_client.py --check  # exit 1 when one is stale (a test runs this)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import unasync

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "clients" / "python" / "imagestudio_client"
#: Each asynchronous source and the synchronous module generated from it.
PAIRS = {
    PACKAGE / "_async.py": PACKAGE / "_sync.py",
    PACKAGE / "_async_library.py": PACKAGE / "_sync_library.py",
}

#: Names unasync renames beyond its own (``__aenter__``, ``AsyncIterator``, ``AsyncGenerator`` ...).
RENAMES = {
    "AsyncImageStudio": "ImageStudio",
    "AsyncJob": "Job",
    "AsyncBatchResult": "BatchResult",
    "AsyncClient": "Client",
    "AsyncBaseTransport": "BaseTransport",
    "AsyncLock": "Lock",
    "async_sleep": "sleep",
    "async_map": "thread_map",
    "_async_library": "_sync_library",
    "aclose": "close",
    "aclosing": "closing",
    "aread": "read",
    "aiter_lines": "iter_lines",
    "aiter_bytes": "iter_bytes",
}

#: The module docstrings, which unasync leaves as they are.
SYNC_DOCS = {
    "_async.py": '''"""The synchronous client: ``ImageStudio(base_url, api_key)``.

Generated from ``_async.py`` by ``scripts/unasync_client.py``: edit that file, then run the script.
"""
''',
    "_async_library.py": '''"""The API beside jobs for the synchronous client: webhook endpoints, templates, personas, assets.

Generated from ``_async_library.py`` by ``scripts/unasync_client.py``: edit that file, then run the script.
"""
''',
}


def generate(source: Path = PACKAGE / "_async.py") -> str:
    """The synchronous module's source, as the ``_sync`` twin of ``source`` should read."""
    target = PAIRS[source]
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / source.name
        copy.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        rule = unasync.Rule(f"/{source.name}", f"/{target.name}", additional_replacements=RENAMES)
        unasync.unasync_files([str(copy)], [rule])
        text = (Path(folder) / target.name).read_text(encoding="utf-8")
    if not text.startswith('"""'):
        raise SystemExit(f"{source.name} no longer starts with a module docstring")
    text = SYNC_DOCS[source.name] + text[text.index('"""\n', 3) + 4 :]
    # unasync renames names, not prose: the docstrings' examples name the synchronous client too.
    text = text.replace("AsyncImageStudio", "ImageStudio")
    # Sorted imports, and ``yield from`` where an async generator had to loop (UP028's fix is
    # marked unsafe only because a generator's ``send`` would pass through; nothing sends to these).
    fixed = _ruff(
        text, target, "check", "--select", "I,UP028", "--fix", "--unsafe-fixes", "--exit-zero", "--quiet"
    )
    return _ruff(fixed, target, "format")


def _ruff(text: str, target: Path, *command: str) -> str:
    """``text`` through ``ruff <command>`` with the repository's settings, as if it were ``target``."""
    stdin_name = str(target.relative_to(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--stdin-filename", stdin_name, "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a _sync file is not what it generates"
    )
    args = parser.parse_args(argv)
    stale = 0
    for source, target in PAIRS.items():
        generated = generate(source)
        if not args.check:
            target.write_text(generated, encoding="utf-8")
        elif not target.is_file() or target.read_text(encoding="utf-8") != generated:
            sys.stderr.write(f"{target.relative_to(ROOT)} is stale: run scripts/unasync_client.py\n")
            stale = 1
    return stale


if __name__ == "__main__":
    raise SystemExit(main())
