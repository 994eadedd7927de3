"""Browser fixtures shared by the end-to-end tests: Debian's headless Chromium driven by selenium."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import Console
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from support import ROOT, imagestudio_up

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium that can reach loopback only (installed by scripts/install-browser.sh when missing)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        result = subprocess.run(
            ["bash", str(ROOT / "scripts/install-browser.sh")], capture_output=True, text=True
        )
        assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
            f"chromium could not be installed\n{result.stderr}"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        # Every name but loopback fails to resolve: a CDN script cannot load.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    # Every console message, so a Content-Security-Policy violation (logged as an error) is seen.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(autouse=True)
def no_content_security_policy_violations(request: pytest.FixtureRequest) -> Iterator[None]:
    """A browser test fails when the page broke its own Content-Security-Policy (an inline
    script, style or event handler, an image from an origin the policy does not name)."""
    if "browser" not in request.fixturenames:
        yield
        return
    driver: webdriver.Chrome = request.getfixturevalue("browser")
    driver.get_log("browser")  # what earlier tests left was checked by them
    yield
    violations = [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]
    assert not violations, violations


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """`imagestudio up` for the console tests; webhooks may reach a receiver the test starts on loopback."""
    root = tmp_path_factory.mktemp("console")
    with imagestudio_up(
        root, data_dir=root / "data", COLUMNS="300", IMAGESTUDIO_WEBHOOK_ALLOW_LOOPBACK="true"
    ) as (base, _env):
        banner = (root / "up.log").read_text()
        link = re.search(r"web console: (\S+)", banner)
        assert link, banner
        key = (root / "data" / "dev-api-key").read_text().strip()
        yield Console(base, key, link.group(1), banner, root)
