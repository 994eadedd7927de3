"""The console against the distributed stack: the gateway and a social worker as real processes on
RabbitMQ, PostgreSQL and S3 (the integration fixtures), driven in headless Chromium."""

from __future__ import annotations

import time

import pytest
from console_support import (
    Console,
    choose_file,
    click,
    nav_pages,
    page_name,
    shown,
    sign_in,
    wait,
    wait_for_page,
)
from integration.conftest import Stack, services, stack  # noqa: F401 (fixtures)
from selenium import webdriver
from selenium.webdriver.common.by import By

pytestmark = pytest.mark.integration


def test_sign_in_and_run_a_social_job_to_completion_on_the_distributed_stack(
    browser: webdriver.Chrome,
    stack: Stack,  # noqa: F811 (the imported fixture)
) -> None:
    worker = stack.worker("social")
    base = stack.base_url
    console = Console(base, stack.key, f"{base}/studio/#key={stack.key}", "", stack.tmp)
    sign_in(browser, console, "social")
    choose_file(browser, console, "[data-page=social] input[type=file]", "shop.png", width=1200, height=800)
    wait(
        browser,
        lambda d: d.find_element(By.CSS_SELECTOR, "[data-page=social] form").get_attribute("data-upload"),
    )
    browser.find_element(By.CSS_SELECTOR, "input[name=platform][value=instagram]").click()
    chosen = {
        e.get_attribute("value")
        for e in browser.find_elements(
            By.CSS_SELECTOR, "fieldset.checks:not([hidden]) input[name=format]:checked"
        )
    }
    assert chosen
    click(browser, browser.find_element(By.CSS_SELECTOR, "[data-page=social] button[type=submit]"))
    shown(browser, "#download-zip")
    panel = browser.find_element(By.CSS_SELECTOR, "#results .job-live")
    assert panel.get_attribute("data-status") == "succeeded", worker.output()
    cards = browser.find_elements(By.CSS_SELECTOR, "#results .output")
    assert chosen <= {c.get_attribute("data-name") for c in cards}
    # Outputs come from S3 by presigned links: every preview loaded in the browser.
    for card in cards:
        image = card.find_element(By.TAG_NAME, "img")
        wait(browser, lambda d, image=image: int(image.get_attribute("naturalWidth") or 0) > 0)
    job_id = panel.get_attribute("data-job")
    assert f"/{stack.services.bucket}/" in cards[0].find_element(By.TAG_NAME, "img").get_attribute("src")
    # The Jobs page reads the same job from PostgreSQL: listed, and its outputs on its page.
    sign_in(browser, console, "jobs")
    shown(browser, f"tr[data-job='{job_id}']")
    sign_in(browser, console, f"jobs/{job_id}")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-page=jobs] .output"))
    names = {
        e.get_attribute("data-name")
        for e in browser.find_elements(By.CSS_SELECTOR, "[data-page=jobs] .output")
    }
    assert chosen | {"all.zip"} <= names, names


def test_every_console_page_loads_its_data_from_the_distributed_stack(
    browser: webdriver.Chrome,
    stack: Stack,  # noqa: F811 (the imported fixture)
) -> None:
    """Each page reads its catalogues and lists from the gateway on PostgreSQL and S3: none shows a problem."""
    base = stack.base_url
    console = Console(base, stack.key, f"{base}/studio/#key={stack.key}", "", stack.tmp)
    for route in nav_pages():
        sign_in(browser, console, route)
        wait_for_page(browser, page_name(route))
        time.sleep(1)  # let the page's first requests answer
        alerts = [
            e.text
            for e in browser.find_elements(By.CSS_SELECTOR, ".problem, [role=alert]")
            if e.is_displayed() and e.text.strip()
        ]
        assert not alerts, (route, alerts)
