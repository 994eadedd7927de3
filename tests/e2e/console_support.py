"""What the console's browser tests share: the running service, waiting on the page, axe-core.

The ``console`` fixture (in conftest.py) starts `imagestudio up` once per test module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait
from support import ROOT, make_image

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
INDEX = ROOT / "services/gateway/gateway/console/static/index.html"


def nav_pages() -> list[str]:
    """Every page the console's nav links to, by route ("" is the dashboard), in nav order."""
    nav = re.search(r'<nav id="nav".*?</nav>', INDEX.read_text(), re.S)
    assert nav, INDEX
    return re.findall(r'href="#/([^"]*)"', nav.group(0))


def page_name(route: str) -> str:
    """The ``data-page`` a route renders (the dashboard's route is empty)."""
    return route.split("/")[0] or "dashboard"


class Console:
    """The running service, its dev key and the banner's console link."""

    def __init__(self, base: str, key: str, link: str, banner: str, tmp: Path) -> None:
        self.base, self.key, self.link, self.banner, self.tmp = base, key, link, banner, tmp

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}", **kwargs.pop("headers", {})}
        return httpx.request(
            method, f"{self.base}/api/image-studio{path}", headers=headers, timeout=30, **kwargs
        )

    def simulator(self, provider: str) -> str:
        found = re.search(rf"{provider}: SIMULATED on (http://127\.0\.0\.1:\d+)", self.banner)
        assert found, self.banner
        return found.group(1)


def wait(driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], Any], timeout: float = 60) -> Any:
    """Wait on the page's state; on a timeout, fail with what the page shows and logged.

    A list the page redraws (a new filter, a refresh) makes elements read before it stale: look again.
    """
    try:
        return WebDriverWait(
            driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
        ).until(condition)
    except TimeoutException:
        logs = driver.get_log("browser")
        raise AssertionError(
            f"page shows:\n{driver.find_element(By.TAG_NAME, 'main').text}\nlog: {logs}"
        ) from None


def shown(driver: webdriver.Chrome, css: str) -> WebElement:
    def find(d: webdriver.Chrome) -> WebElement | bool:
        found = [e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        return found[0] if found else False

    element: WebElement = wait(driver, find)
    return element


def sign_in(driver: webdriver.Chrome, console: Console, page: str = "") -> None:
    driver.set_window_size(1280, 1000)
    driver.get(f"{console.base}/studio/#key={console.key}")  # the banner's link
    shown(driver, "[data-page=dashboard] .stat")
    # Each test starts its pages afresh: what an earlier test left (kept across navigation) is dropped.
    driver.execute_script(
        "Object.keys(sessionStorage).filter((k) => k.startsWith('imagestudio.state.'))"
        ".forEach((k) => sessionStorage.removeItem(k))"
    )
    if page:
        driver.get(f"{console.base}/studio/#/{page}")
        wait_for_page(driver, page_name(page))


def wait_for_page(driver: webdriver.Chrome, page: str) -> None:
    """Wait until ``page`` has rendered (its heading shown) and every image it loads now has loaded.

    A lazy image below the fold (a long asset grid on a phone) loads only when scrolled to: not waited on.
    """
    shown(driver, f"[data-page={page}] h1")
    wait(
        driver,
        lambda d: d.execute_script(
            "return [...document.images].every((i) => i.complete"
            " || (i.loading === 'lazy' && i.getBoundingClientRect().top > innerHeight))"
        ),
    )


def click(driver: webdriver.Chrome, element: WebElement) -> None:
    """Click as a user would, after scrolling the element clear of the sticky header."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def choose_file(driver: webdriver.Chrome, console: Console, css: str, name: str, **image: Any) -> None:
    path = console.tmp / name
    path.write_bytes(make_image(**image))
    driver.find_element(By.CSS_SELECTOR, css).send_keys(str(path))


def inpaint_canvas(driver: webdriver.Chrome, console: Console, name: str) -> WebElement:
    """The Edit page on Inpaint with a 320×240 image chosen: its mask canvas, scrolled into view."""
    sign_in(driver, console, "edit")
    operation = driver.find_element(By.CSS_SELECTOR, ".field[data-field=operation] select")
    Select(operation).select_by_value("inpaint")
    choose_file(driver, console, "[data-page=edit] .drop input[type=file]", name, width=320, height=240)
    canvas = shown(driver, ".mask-stage canvas")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    return canvas


def axe_violations(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    driver.execute_script(AXE.read_text())
    result: dict[str, Any] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r), e => done({error: String(e)}));"
    )
    assert "error" not in result, result
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def assert_accessible_in_both_themes(driver: webdriver.Chrome) -> None:
    """axe-core finds no serious or critical violation on the page, light or dark."""
    for theme in ("light", "dark"):
        driver.execute_script(f"document.documentElement.dataset.theme = '{theme}'")
        violations = axe_violations(driver)
        assert not violations, (
            theme,
            [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in violations],
        )


def uploaded(driver: webdriver.Chrome, page: str) -> str:
    """Wait until the studio page's form holds an upload id (the chosen file is uploaded); the id."""
    upload_id: str = wait(
        driver,
        lambda d: d.find_element(By.CSS_SELECTOR, f"[data-page={page}] form").get_attribute("data-upload"),
    )
    return upload_id


def run_again(driver: webdriver.Chrome, console: Console, job_id: str) -> str:
    """Click "Run again" on the job's page; the id of the job it submitted (the page it opens)."""
    sign_in(driver, console, f"jobs/{job_id}")
    click(driver, shown(driver, "#retry-job"))
    again: str = wait(
        driver,
        lambda d: (
            (found := d.execute_script("return location.hash").removeprefix("#/jobs/")) != job_id and found
        ),
    )
    return again
