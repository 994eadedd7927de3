"""The interactive docs work without internet: /docs and /redoc load every file from the gateway itself.

Chromium (Debian's, driven by its chromedriver through selenium) is told that no host but
127.0.0.1 resolves, so a page needing a CDN would stay blank; the test also checks that every
resource the page loaded came from the gateway.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from support import imagestudio_up


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("docs-offline")
    with imagestudio_up(root, data_dir=root / "data") as (base, _env):
        yield base


def _resources(driver: webdriver.Chrome) -> list[str]:
    names = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [str(name) for name in names]


def test_swagger_ui_renders_the_operations_from_the_gateway_alone(
    browser: webdriver.Chrome, gateway: str
) -> None:
    browser.get(f"{gateway}/docs")
    wait = WebDriverWait(browser, 60)
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    # Swagger UI names each block after its tag and operationId.
    assert browser.find_elements(By.ID, "operations-jobs-jobs_get")
    assert browser.find_elements(By.ID, "operations-social-social_optimize")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) >= 40
    resources = _resources(browser)
    assert any(name.endswith("/docs-assets/swagger-ui-bundle.js") for name in resources), resources
    assert all(name.startswith(gateway + "/") for name in resources), resources
    scripts = [el.get_attribute("src") for el in browser.find_elements(By.CSS_SELECTOR, "script[src]")]
    links = [el.get_attribute("href") for el in browser.find_elements(By.CSS_SELECTOR, "link[href]")]
    assert all(str(url).startswith(gateway + "/") for url in scripts + links), scripts + links


#: ReDoc's "API docs by Redocly" badge: an <img> from its CDN that removes itself when it cannot load.
REDOC_BADGE = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_redoc_renders_from_the_gateway_alone(browser: webdriver.Chrome, gateway: str) -> None:
    browser.get(f"{gateway}/redoc")
    wait = WebDriverWait(browser, 60)
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[data-section-id]")))
    assert "Image Studio" in browser.find_element(By.TAG_NAME, "body").text
    resources = _resources(browser)
    assert any(name.endswith("/docs-assets/redoc.standalone.js") for name in resources), resources
    assert all(name.startswith(gateway + "/") for name in resources if name != REDOC_BADGE), resources
