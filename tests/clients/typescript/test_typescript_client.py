"""The TypeScript client (clients/typescript) against a live `imagestudio up`: its own suite and the docs' snippet.

``npm test`` builds first (types from docs/openapi.json) and each of its suites makes its own PNG
and its own tenant (through ``IMAGESTUDIO_CLI``, the service's admin command, set here). npm's
install is cached: ``npm ci`` runs only when package-lock.json changed since the last one.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait
from support import IMAGESTUDIO, LOOPBACK_TARGETS, ROOT, imagestudio_up, make_image
from typescript_support import PACKAGE, npm, npm_ci

QUICKSTART = ROOT / "docs" / "clients-typescript.md"


@pytest.fixture(scope="module")
def built() -> Path:
    """``npm ci`` when the lock file changed (``npm test`` and the snippet's test build on their own)."""
    return npm_ci()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A live gateway (webhooks and image URLs may reach loopback, where the suites listen) and its
    admin command."""
    root = tmp_path_factory.mktemp("ts-client")
    image = root / "photo.png"
    image.write_bytes(make_image(800, 600))
    with imagestudio_up(root, data_dir=root / "data", **LOOPBACK_TARGETS) as (base, env):
        # The quick start runs as a partner that never fetched its signing secret (shown once).
        minted = subprocess.run(
            [IMAGESTUDIO, "keys", "create", "--tenant", "ts-quickstart"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        quickstart_key = re.search(r"isk_[A-Za-z0-9_-]+", minted.stdout)
        assert quickstart_key, minted.stdout + minted.stderr
        yield {
            **env,
            "QUICKSTART_API_KEY": quickstart_key.group(0),
            "IMAGESTUDIO_URL": base,
            "IMAGESTUDIO_CLI": IMAGESTUDIO,
            "IMAGESTUDIO_TEST_IMAGE": str(image),
            "NO_COLOR": "1",
        }


def test_typescript_client_suite_passes_against_the_service(built: Path, service: dict[str, str]) -> None:
    result = npm("test", env=service)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    assert passed and int(passed.group(1)) >= 18, output
    assert re.search(r"^# fail 0$", output, re.MULTILINE), output


def _snippet() -> str:
    blocks = re.findall(r"```ts\n(.*?)```", QUICKSTART.read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/clients-typescript.md should hold one ```ts quick-start block"
    return str(blocks[0])


def _doc_command(start: str) -> str:
    """The one line of the page's ```sh blocks that starts with ``start`` (its comment dropped)."""
    blocks = re.findall(r"```sh\n(.*?)```", QUICKSTART.read_text(), re.DOTALL)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    (found,) = [line for line in lines if line.startswith(start)]
    return found


def pack(destination: Path) -> Path:
    """The npm tarball, as ``make dist`` packs it (``prepack`` builds first)."""
    result = npm("pack", "--pack-destination", str(destination))
    assert result.returncode == 0, result.stdout + result.stderr
    (tarball,) = destination.glob("imagestudio-client-*.tgz")
    return tarball


def test_quickstart_snippet_runs_from_the_packed_tarball_in_an_empty_folder(
    built: Path, service: dict[str, str], tmp_path: Path
) -> None:
    """The docs' snippet as a partner app: the tarball installed into an empty folder, type-checked, run."""
    tarball = pack(tmp_path)
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"private": True}))
    typed = npm(*_doc_command("npm pkg set").split()[1:], cwd=app)  # the app an ES module, as the page says
    assert typed.returncode == 0, typed.stdout + typed.stderr
    # Its dependencies come from npm's cache, filled by the package's own `npm ci`.
    installed = npm("install", "--prefer-offline", "--no-audit", "--no-fund", str(tarball), cwd=app)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert not (
        app / "node_modules" / "@imagestudio" / "client" / "src"
    ).exists()  # only the built files ship
    (app / "quickstart.ts").write_text(_snippet())
    shutil.copy(service["IMAGESTUDIO_TEST_IMAGE"], app / "photo.png")
    # The page's compile line as written; typescript and @types/node are the package's own (no registry).
    compile_args = _doc_command("npx tsc").split()[2:]
    tsc = subprocess.run(
        [
            str(PACKAGE / "node_modules" / ".bin" / "tsc"),
            *compile_args,
            "--typeRoots",
            str(PACKAGE / "node_modules" / "@types"),
        ],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tsc.returncode == 0, tsc.stdout + tsc.stderr
    node = shutil.which("node")
    assert node
    assert _doc_command("node ") == "node quickstart.js"
    run = subprocess.run(
        [node, "quickstart.js"],
        cwd=app,
        env={**service, "IMAGESTUDIO_API_KEY": service["QUICKSTART_API_KEY"]},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "instagram.story 1080 1920 http://127.0.0.1:" in run.stdout, run.stdout
    assert "422 https://imagestudio.dev/problems/validation-failed prompt" in run.stdout, run.stdout
    assert re.search(r"^succeeded 100 %$", run.stdout, re.MULTILINE), run.stdout
    compressed = re.search(r"^compressed jpeg ([\d.]+) (\d+)$", run.stdout, re.MULTILINE)
    assert compressed and float(compressed.group(1)) >= 0.98 and int(compressed.group(2)) > 0, run.stdout


def test_the_bundled_client_runs_in_a_browser(built: Path, tmp_path: Path) -> None:
    """browser/check.ts, bundled by esbuild as a browser app would, runs in headless Chromium."""
    bundle = subprocess.run(
        [
            str(PACKAGE / "node_modules" / ".bin" / "esbuild"),
            "browser/check.ts",
            "--bundle",
            "--format=iife",
            "--platform=browser",
            f"--outfile={tmp_path / 'check.js'}",
        ],
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bundle.returncode == 0, bundle.stderr
    (tmp_path / "index.html").write_text('<pre id="result"></pre><script src="check.js"></script>')
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))
    try:
        driver.get((tmp_path / "index.html").as_uri())
        text = WebDriverWait(driver, 60).until(lambda d: d.find_element("id", "result").text)
    finally:
        driver.quit()
    assert json.loads(text) == {
        "verified": ["job.succeeded", "job-1", 0],
        "refused": True,
        "job": "job-2",
        "tries": 3,
        "oneKey": True,
        "multipart": True,
    }
