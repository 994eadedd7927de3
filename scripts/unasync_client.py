"""Generate the Python SDK's synchronous client from its asynchronous one, or check that it is up to date.

``clients/python/imagestudio_client/_async.py`` is the source. unasync (python-trio's token
rewriter, the tool httpcore keeps its two clients with) drops ``async``/``await`` and renames the
names below; ruff then sorts the imports and formats the result as it does the rest of the tree::

    .venv/bin/python scripts/unasync_client.py          # rewrite _sync.py
    .venv/bin/python scripts/unasync_client.py --check  # exit 1 when _sync.py is stale (a test runs this)
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
SOURCE = PACKAGE / "_async.py"
TARGET = PACKAGE / "_sync.py"

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
    "aclose": "close",
    "aclosing": "closing",
    "aread": "read",
    "aiter_lines": "iter_lines",
    "aiter_bytes": "iter_bytes",
}

#: The module docstring, which unasync leaves as it is.
SYNC_DOC = '''"""The synchronous client: ``ImageStudio(base_url, api_key)``.

Generated from ``_async.py`` by ``scripts/unasync_client.py``: edit that file, then run the script.
"""
'''


def generate() -> str:
    """The synchronous client's source, as ``_sync.py`` should read."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "_async.py"
        source.write_text(SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
        unasync.unasync_files(
            [str(source)], [unasync.Rule("/_async.py", "/_sync.py", additional_replacements=RENAMES)]
        )
        text = (Path(folder) / "_sync.py").read_text(encoding="utf-8")
    if not text.startswith('"""'):
        raise SystemExit(f"{SOURCE.name} no longer starts with a module docstring")
    text = SYNC_DOC + text[text.index('"""\n', 3) + 4 :]
    # unasync renames names, not prose: the docstrings' examples name the synchronous client too.
    text = text.replace("AsyncImageStudio", "ImageStudio")
    # Sorted imports, and ``yield from`` where an async generator had to loop (UP028's fix is
    # marked unsafe only because a generator's ``send`` would pass through; nothing sends to these).
    fixed = _ruff(text, "check", "--select", "I,UP028", "--fix", "--unsafe-fixes", "--exit-zero", "--quiet")
    return _ruff(fixed, "format")


def _ruff(text: str, *command: str) -> str:
    """``text`` through ``ruff <command>`` with the repository's settings, as if it were ``_sync.py``."""
    stdin_name = str(TARGET.relative_to(ROOT))
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
    parser.add_argument("--check", action="store_true", help="exit 1 when _sync.py is not what it generates")
    args = parser.parse_args(argv)
    generated = generate()
    if args.check:
        if TARGET.read_text(encoding="utf-8") != generated:
            sys.stderr.write(f"{TARGET.relative_to(ROOT)} is stale: run scripts/unasync_client.py\n")
            return 1
        return 0
    TARGET.write_text(generated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
