"""The console's Upscale, Compress, Assets and Webhooks pages in headless Chromium against `imagestudio up`.

Jobs that only set the scene are sent with the API; what the test is about is done in the page.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from console_support import (
    Console,
    assert_accessible_in_both_themes,
    choose_file,
    click,
    shown,
    sign_in,
    wait,
)
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select
from support import make_image, wait_for
from unit.webhooks.webhook_receiver import Receiver

from imagestudio_client import webhooks

PAGES = ["upscale", "compress", "assets", "webhooks"]


def finished_job(console: Console, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Submit a job with the API and wait for it to succeed."""
    job = console.api("POST", path, json=body)
    assert job.status_code == 202, job.text

    def done() -> dict[str, Any] | None:
        fresh: dict[str, Any] = console.api("GET", f"/jobs/{job.json()['id']}").json()
        assert fresh["status"] not in ("failed", "canceled"), fresh
        return fresh if fresh["status"] == "succeeded" else None

    result: dict[str, Any] = wait_for(done, timeout=60, interval=0.2, what="the job to succeed")
    return result


def local_upscale(console: Console) -> dict[str, Any]:
    upload = console.api("POST", "/uploads", files={"file": ("in.png", make_image(40, 30))}).json()
    return finished_job(console, "/upscale", {"image": upload["id"], "mode": "fast", "path": "local"})


def logged(console: Console, endpoint_id: str, job_id: str, *, attempts: int) -> str:
    """The id of the job's job.succeeded delivery once the log shows it succeeded after ``attempts``."""

    def find() -> str | None:
        page = console.api("GET", "/webhooks/deliveries", params={"endpoint_id": endpoint_id}).json()
        for d in page["items"]:
            if d["job_id"] == job_id and d["event_type"] == "job.succeeded":
                if d["status"] == "succeeded" and d["attempts"] == attempts:
                    return str(d["id"])
        return None

    found: str = wait_for(find, timeout=60, interval=0.2, what=f"a delivery logged after {attempts} attempts")
    return found


def test_upscale_shows_the_target_size_runs_locally_and_compares_before_and_after(
    browser: webdriver.Chrome, console: Console
) -> None:
    sign_in(browser, console, "upscale")
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=mode] select")).select_by_value("fast")
    choose_file(browser, console, "[data-page=upscale] input[type=file]", "small.png", width=64, height=48)
    target = shown(browser, "#target-size")
    wait(browser, lambda d: target.get_attribute("data-size") == "256x192")
    # The conservative target is about 4 MP whatever the input: the preview follows the mode.
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=mode] select")).select_by_value(
        "conservative"
    )
    wait(browser, lambda d: target.get_attribute("data-size") == "2365x1774")
    assert shown(browser, ".field[data-field=prompt]")
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=mode] select")).select_by_value("fast")
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=path] select")).select_by_value("local")
    estimate = shown(browser, "#estimate")
    expected = console.api(
        "POST", "/estimate-cost", json={"studio": "upscale", "params": {"mode": "fast", "path": "local"}}
    ).json()["total_credits"]
    wait(browser, lambda d: estimate.get_attribute("data-credits") == str(expected))
    assert not browser.find_element(By.CSS_SELECTOR, ".field[data-field=prompt]").is_displayed()
    click(browser, browser.find_element(By.CSS_SELECTOR, "[data-page=upscale] button[type=submit]"))
    viewer = shown(browser, "#results .before-after")
    card = shown(browser, "#results .output")
    assert "256×192" in card.text, card.text
    job_id = shown(browser, "#results .job-live").get_attribute("data-job")
    job = console.api("GET", f"/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["params"]["routes"][0]["provider"] == "local", job
    # The divider wipes and the zoom enlarges the stage.
    stage = viewer.find_element(By.CSS_SELECTOR, ".ba-stage")
    width = stage.size["width"]
    Select(viewer.find_element(By.CSS_SELECTOR, "select")).select_by_value("2")
    # Twice the box it scrolls in (less the scroll bar the zoom brings).
    wait(browser, lambda d: stage.size["width"] > 1.9 * width)
    slider = viewer.find_element(By.CSS_SELECTOR, "input[type=range]")
    browser.execute_script("arguments[0].value = 20; arguments[0].dispatchEvent(new Event('input'))", slider)
    cut = viewer.find_element(By.CSS_SELECTOR, ".ba-before").value_of_css_property("clip-path")
    assert "80%" in cut, cut


def compress_form(
    browser: webdriver.Chrome, console: Console, *, size: tuple[int, int], fmt: str, ssim: str
) -> None:
    """The Compress page with a photo uploaded, ``fmt`` and a target SSIM filled in (the default mode)."""
    sign_in(browser, console, "compress")
    width, height = size
    choose_file(
        browser, console, "[data-page=compress] input[type=file]", "photo.png", width=width, height=height
    )
    shown(browser, "[data-page=compress] form[data-upload]")
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=format] select")).select_by_value(fmt)
    target = browser.find_element(By.CSS_SELECTOR, ".field[data-field=target_ssim] input")
    target.clear()
    target.send_keys(ssim)


def test_compress_to_a_target_ssim_shows_sizes_ssim_quality_and_a_download(
    browser: webdriver.Chrome, console: Console
) -> None:
    compress_form(browser, console, size=(320, 240), fmt="jpeg", ssim="0.97")
    # Target SSIM is the default mode; the estimate says what the API says: free.
    estimate = shown(browser, "#estimate")
    wait(browser, lambda d: estimate.get_attribute("data-credits") == "0")
    assert not browser.find_element(By.CSS_SELECTOR, ".field[data-field=target_kb]").is_displayed()
    click(browser, browser.find_element(By.CSS_SELECTOR, "[data-page=compress] button[type=submit]"))
    card = shown(browser, "#results .output")
    shown(browser, "#results .before-after")
    job_id = shown(browser, "#results .job-live").get_attribute("data-job")
    job = console.api("GET", f"/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["params"]["target_ssim"] == 0.97, job
    meta = job["outputs"][0]["metadata"]
    assert meta["ssim"] >= 0.97 and meta["format"] == "jpeg"
    # The card shows what the job answered: sizes before and after, the quality, the SSIM.
    assert f"SSIM {meta['ssim']:.4f}" in card.text, card.text
    assert f"quality {meta['quality']}" in card.text and "→" in card.text, card.text
    link = card.find_element(By.CSS_SELECTOR, "a[download]")
    assert httpx.get(link.get_attribute("href")).content[:2] == b"\xff\xd8"  # a JPEG


def test_compress_page_refuses_an_impossible_setting_beside_its_field(
    browser: webdriver.Chrome, console: Console
) -> None:
    compress_form(browser, console, size=(64, 48), fmt="webp", ssim="1")  # SSIM 1 needs a lossless format
    click(browser, browser.find_element(By.CSS_SELECTOR, "[data-page=compress] button[type=submit]"))
    error = shown(browser, ".field[data-field=target_ssim] .error")
    assert "lossless" in error.text, error.text


def test_assets_favorite_filter_by_favorite_and_bulk_delete(
    browser: webdriver.Chrome, console: Console
) -> None:
    prompt = f"a lighthouse at dusk {uuid.uuid4().hex[:8]}"
    job = finished_job(console, "/create", {"prompt": prompt, "count": 3, "provider": "stability"})
    ids = {a["id"] for a in console.api("GET", "/assets", params={"q": prompt}).json()["items"]}
    assert len(ids) == 3, ids
    sign_in(browser, console, "assets")
    search = browser.find_element(By.CSS_SELECTOR, ".field[data-field=q] input")
    search.send_keys(prompt + "\n")

    def cards(d: webdriver.Chrome) -> list[Any]:
        return d.find_elements(By.CSS_SELECTOR, "[data-page=assets] li.asset")

    wait(browser, lambda d: {c.get_attribute("data-asset") for c in cards(d)} == ids)
    favorite_card = cards(browser)[0]
    favorite_id = favorite_card.get_attribute("data-asset")
    click(browser, favorite_card.find_element(By.CSS_SELECTOR, "button.favorite"))
    wait(browser, lambda d: favorite_card.get_attribute("data-favorite") == "true")
    assert console.api("GET", f"/assets/{favorite_id}").json()["favorite"] is True

    favorites = Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=favorite] select"))
    favorites.select_by_value("true")
    wait(browser, lambda d: [c.get_attribute("data-asset") for c in cards(d)] == [favorite_id])
    favorites.select_by_value("false")
    wait(browser, lambda d: {c.get_attribute("data-asset") for c in cards(d)} == ids - {favorite_id})

    # Bulk: tag both, then delete both; the favorite stays.
    click(browser, browser.find_element(By.CSS_SELECTOR, "[aria-label='Select every asset shown']"))
    assert shown(browser, "#selected-count").text == "2 selected"
    browser.find_element(By.CSS_SELECTOR, ".field[data-field=tags] input").send_keys("spring, launch")
    click(browser, browser.find_element(By.CSS_SELECTOR, "button[data-action=tag]"))
    wait(
        browser,
        lambda d: all("spring" in c.text and "launch" in c.text for c in cards(d)) and len(cards(d)) == 2,
    )
    for asset_id in ids - {favorite_id}:
        assert console.api("GET", f"/assets/{asset_id}").json()["tags"] == ["spring", "launch"]
    click(browser, browser.find_element(By.CSS_SELECTOR, "[aria-label='Select every asset shown']"))
    click(browser, browser.find_element(By.CSS_SELECTOR, "button[data-action=delete]"))
    wait(browser, expected_conditions.alert_is_present()).accept()
    wait(browser, lambda d: not cards(d))
    for asset_id in ids - {favorite_id}:
        assert console.api("GET", f"/assets/{asset_id}").status_code == 404
    favorites.select_by_value("")
    wait(browser, lambda d: [c.get_attribute("data-asset") for c in cards(d)] == [favorite_id])

    # The detail: prompt, the job's params, a download link that serves the file.
    click(browser, cards(browser)[0].find_element(By.CSS_SELECTOR, "a"))
    assert shown(browser, "#asset-prompt").text == prompt
    assert json.loads(shown(browser, "#asset-params").text) == job["params"]
    click(browser, browser.find_element(By.XPATH, "//button[text()='New download link']"))
    href = shown(browser, "#asset-download").get_attribute("href")
    download = httpx.get(href, timeout=30)
    assert download.status_code == 200 and download.headers["content-type"].startswith("image/")


def test_webhooks_create_rotate_see_a_delivery_redeliver_and_disable(
    browser: webdriver.Chrome, console: Console
) -> None:
    with Receiver() as receiver:
        sign_in(browser, console, "webhooks")
        browser.find_element(By.CSS_SELECTOR, ".field[data-field=url] input").send_keys(receiver.url)
        browser.find_element(By.CSS_SELECTOR, ".field[data-field=description] input").send_keys(
            "console test"
        )
        click(browser, browser.find_element(By.XPATH, "//button[text()='Add endpoint']"))
        first = shown(browser, "#secret-shown code.secret").text
        assert first.startswith("whsec_")
        row = shown(browser, "#endpoints tr[data-endpoint]")
        endpoint_id = row.get_attribute("data-endpoint")
        click(browser, row.find_element(By.CSS_SELECTOR, "button[data-action=rotate]"))
        wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#secret-shown code.secret").text != first)
        rotated = browser.find_element(By.CSS_SELECTOR, "#secret-shown code.secret").text
        assert rotated.startswith("whsec_")

        job = local_upscale(console)
        wait_for(lambda: receiver.of_type("job.succeeded"), timeout=60, what="the job.succeeded delivery")
        sent = receiver.of_type("job.succeeded")[0]
        assert webhooks.verify(sent.body, sent.headers, rotated).data.id == job["id"]

        delivery_id = logged(console, endpoint_id, job["id"], attempts=1)
        click(browser, browser.find_element(By.ID, "refresh-deliveries"))
        item = shown(browser, f"li.delivery[data-delivery='{delivery_id}'][data-status=succeeded]")
        assert "job.succeeded" in item.text and job["id"][:8] in item.text, item.text
        click(browser, item.find_element(By.CSS_SELECTOR, "summary"))
        attempt = item.find_element(By.CSS_SELECTOR, "table.attempts tbody tr")
        assert "200" in attempt.text and "ms" in attempt.text, attempt.text

        click(browser, item.find_element(By.CSS_SELECTOR, "button[data-action=redeliver]"))
        wait_for(lambda: len(receiver.of_type("job.succeeded")) >= 2, timeout=60, what="the redelivery")
        again = receiver.of_type("job.succeeded")[1]
        assert again.headers["webhook-id"] == sent.headers["webhook-id"]
        logged(console, endpoint_id, job["id"], attempts=2)
        click(browser, browser.find_element(By.ID, "refresh-deliveries"))
        shown(browser, f"li.delivery[data-delivery='{delivery_id}'][data-attempts='2']")

        row = shown(browser, f"#endpoints tr[data-endpoint='{endpoint_id}']")
        click(browser, row.find_element(By.CSS_SELECTOR, "button[data-action=toggle]"))
        wait(
            browser,
            lambda d: (
                d.find_element(By.CSS_SELECTOR, f"tr[data-endpoint='{endpoint_id}']").get_attribute(
                    "data-enabled"
                )
                == "false"
            ),
        )
        assert console.api("GET", f"/webhooks/endpoints/{endpoint_id}").json()["enabled"] is False


def test_a_bad_webhook_url_is_shown_beside_its_field(browser: webdriver.Chrome, console: Console) -> None:
    sign_in(browser, console, "webhooks")
    url = browser.find_element(By.CSS_SELECTOR, ".field[data-field=url] input")
    browser.execute_script("arguments[0].type = 'text'", url)  # past the browser's own check
    url.send_keys("ftp://example.invalid/hook")
    click(browser, browser.find_element(By.XPATH, "//button[text()='Add endpoint']"))
    error = shown(browser, ".field[data-field=url] .error")
    assert error.text and url.get_attribute("aria-invalid") == "true"


@pytest.mark.parametrize("page", PAGES)
def test_the_library_pages_have_no_serious_accessibility_violations(
    browser: webdriver.Chrome, console: Console, page: str
) -> None:
    if page == "assets":
        local_upscale(console)  # a card to check, not an empty grid
    sign_in(browser, console, page)
    assert_accessible_in_both_themes(browser)
