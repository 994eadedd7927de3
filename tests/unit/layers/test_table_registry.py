"""``imagestudio.models`` registers every table, and a database session stays light.

Each check runs in a fresh interpreter (``python -c``) so what this test process has already
imported cannot hide a missing import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import BASE_ENV

#: Imports every ``imagestudio`` module (Alembic's env is run by Alembic, not imported) and prints the tables.
_EVERY_MODULE_TABLES = """
import importlib, json, pkgutil
import imagestudio
from imagestudio.orm import Base
for info in pkgutil.walk_packages(imagestudio.__path__, "imagestudio."):
    if not info.name.startswith("imagestudio.migrations"):
        importlib.import_module(info.name)
print(json.dumps(sorted(Base.metadata.tables)))
"""

_MODELS_TABLES = """
import json
import imagestudio.models
from imagestudio.orm import Base
print(json.dumps(sorted(Base.metadata.tables)))
"""

_SESSION_IMPORTS = """
import json, sys
import imagestudio.models
from sqlalchemy import text
from imagestudio.db import session_scope
with session_scope() as session:
    session.execute(text("select 1"))
print(json.dumps(sorted(sys.modules)))
"""

#: What a session must not drag in: vendor clients, their HTTP stack, and the pixel libraries.
_HEAVY = ("httpx", "PIL", "numpy", "imagestudio.providers", "imagestudio.imaging", "imagestudio.studios")


def _run(code: str, tmp_path: Path) -> object:
    env = {**os.environ, **BASE_ENV, "IMAGESTUDIO_DATA_DIR": str(tmp_path)}
    env.pop("IMAGESTUDIO_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_models_registers_every_table_any_module_defines(tmp_path: Path) -> None:
    every = _run(_EVERY_MODULE_TABLES, tmp_path)
    registered = _run(_MODELS_TABLES, tmp_path)

    assert isinstance(every, list) and "jobs" in every and "provider_health" in every
    assert registered == every


def test_opening_a_session_imports_no_provider_client_nor_pixel_library(tmp_path: Path) -> None:
    modules = _run(_SESSION_IMPORTS, tmp_path)

    assert isinstance(modules, list)
    loaded = [name for name in modules if name.split(".")[0] in _HEAVY or name.startswith(_HEAVY)]
    assert loaded == []
