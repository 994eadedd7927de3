"""The web console in headless Chromium against `imagestudio up`: only a client of the public API.

Each test drives the pages as a user would (click, type, choose a file) and waits on what the page
shows. An axe-core check (vendored under vendor/axe-core) runs on every page.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import httpx
import pytest
from console_support import (
    Console,
    assert_accessible_in_both_themes,
    axe_violations,
    choose_file,
    click,
    inpaint_canvas,
    nav_pages,
    shown,
    sign_in,
    wait,
)
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from support import imagestudio_cli

#: Every page the nav links to, so a page added there is checked without a change here.
PAGES = nav_pages()


def test_console_files_are_hashed_and_long_cached(console: Console) -> None:
    page = httpx.get(f"{console.base}/studio/")
    assert page.headers["cache-control"] == "no-cache"
    names = re.findall(r'"(/studio/assets/[^"]+\.[0-9a-f]{12}\.(?:js|css))"', page.text)
    assert any(n.endswith(".css") for n in names) and any("/app." in n for n in names), page.text
    for name in names:
        asset = httpx.get(f"{console.base}{name}")
        assert asset.status_code == 200, name
        assert "immutable" in asset.headers["cache-control"]
    assert httpx.get(f"{console.base}/studio/assets/nothing.js").status_code == 404


def test_banner_link_signs_in_and_drops_the_key_from_the_url(
    browser: webdriver.Chrome, console: Console
) -> None:
    assert console.link == f"{console.base}/studio/#key={console.key}"
    sign_in(browser, console)
    assert console.key not in browser.current_url
    assert browser.execute_script("return sessionStorage.getItem('imagestudio.key')") == console.key
    available = shown(browser, "#credits-available").text
    assert int(available) > 0
    tiles = browser.find_elements(By.CSS_SELECTOR, "[data-page=dashboard] a.tile")
    assert {t.get_attribute("href").rsplit("/", 1)[1] for t in tiles} == {
        "create",
        "edit",
        "upscale",
        "social",
        "control",
        "compress",
        "jobs",
        "assets",
        "webhooks",
    }  # every studio, and the pages beside them (one tap on a phone, where the nav folds away)


def test_a_key_link_does_not_replace_the_signed_in_key_without_a_yes(
    browser: webdriver.Chrome, console: Console
) -> None:
    created = imagestudio_cli("keys", "create", "--tenant", "link-sender", data_dir=console.tmp / "data")
    assert created.returncode == 0, created.stdout + created.stderr
    found = re.search(r"(isk_[A-Za-z0-9_-]+)", created.stdout)
    assert found, created.stdout
    other = found.group(1)
    stored = "return sessionStorage.getItem('imagestudio.key')"
    sign_in(browser, console)
    try:
        browser.get("about:blank")  # a link someone sent, opened in this tab
        browser.get(f"{console.base}/studio/#key={other}")
        prompt = shown(browser, "[role=alertdialog]")
        assert "Sign in as the key from this link?" in prompt.text
        assert other[:12] in prompt.text and other not in prompt.text
        assert other not in browser.current_url
        assert browser.execute_script(stored) == console.key  # nothing replaced yet
        click(browser, browser.find_element(By.ID, "keep-key"))
        shown(browser, "[data-page=dashboard] .stat")
        assert browser.execute_script(stored) == console.key

        browser.get(f"{console.base}/studio/#key={other}")  # pasted into the open console
        click(browser, shown(browser, "#use-link-key"))
        shown(browser, "[data-page=dashboard] .stat")
        assert browser.execute_script(stored) == other
    finally:
        browser.execute_script("sessionStorage.removeItem('imagestudio.key')")


def test_a_wrong_key_shows_a_clear_message_and_a_right_one_signs_in(
    browser: webdriver.Chrome, console: Console
) -> None:
    browser.get(f"{console.base}/studio/")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    key_input = shown(browser, "input[name=key]")
    key_input.send_keys("isk_not-a-real-key")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    error = shown(browser, ".field[data-field=key] .error")
    assert "not accepted" in error.text and "Unauthorized" in error.text
    assert key_input.get_attribute("aria-invalid") == "true"
    key_input.clear()
    key_input.send_keys(console.key)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    shown(browser, "#credits-available")


def test_social_upload_focal_point_two_platforms_every_format_and_the_zip(
    browser: webdriver.Chrome, console: Console
) -> None:
    sign_in(browser, console, "social")
    choose_file(browser, console, "[data-page=social] input[type=file]", "social.png", width=900, height=600)
    image = shown(browser, ".focal img")
    wait(browser, lambda d: image.get_attribute("naturalWidth") not in (None, "0"))
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "form").get_attribute("data-upload"))
    # Click a quarter of the width right of the centre, half-way down.
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", image)
    ActionChains(browser).move_to_element_with_offset(image, image.size["width"] // 4, 0).click().perform()
    focal_x, focal_y = map(float, shown(browser, ".focal").get_attribute("data-focal").split(","))
    assert 0.7 < focal_x < 0.8 and 0.45 < focal_y < 0.55
    for platform in ("instagram", "linkedin"):
        browser.find_element(By.CSS_SELECTOR, f"input[name=platform][value={platform}]").click()
    chosen = [
        e.get_attribute("value")
        for e in browser.find_elements(
            By.CSS_SELECTOR, "fieldset.checks:not([hidden]) input[name=format]:checked"
        )
    ]
    assert {c.split(".")[0] for c in chosen} == {"instagram", "linkedin"}
    browser.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(console.tmp)}
    )
    browser.find_element(By.CSS_SELECTOR, "[data-page=social] button[type=submit]").click()
    zip_link = shown(browser, "#download-zip")
    cards = browser.find_elements(By.CSS_SELECTOR, "#results .output")
    names = {c.get_attribute("data-name") for c in cards}
    assert set(chosen) <= names, (chosen, names)
    for card in cards:
        if card.get_attribute("data-name") in chosen:
            assert re.search(r"\d+×\d+", card.text) and re.search(r"\d+ (KB|MB)", card.text), card.text
    job_id = shown(browser, "#results .job-live").get_attribute("data-job")
    params = console.api("GET", f"/jobs/{job_id}").json()["params"]
    assert params["focal_point"] is not None
    click(browser, zip_link)
    archive = console.tmp / "social-all.zip"  # named after its source (Content-Disposition)
    wait(browser, lambda d: archive.exists() and zipfile.is_zipfile(archive))
    inside = {Path(n).stem for n in zipfile.ZipFile(archive).namelist()}
    assert set(chosen) <= inside


def test_a_jobs_progress_updates_live_and_it_can_be_cancelled(
    browser: webdriver.Chrome, console: Console
) -> None:
    # Each simulated Stability call answers after 2 s: the job stays running long enough to watch.
    faults = [{"delay": 2.0}] * 6
    httpx.post(f"{console.simulator('stability')}/_simulator/faults", json=faults).raise_for_status()
    job = console.api(
        "POST", "/create", json={"prompt": "a slow lighthouse", "count": 6, "provider": "stability"}
    )
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    sign_in(browser, console, f"jobs/{job_id}")
    panel = shown(browser, ".job-live")
    wait(browser, lambda d: float(panel.get_attribute("data-progress") or 0) > 0)
    first = panel.find_element(By.CSS_SELECTOR, ".message").text
    wait(browser, lambda d: panel.find_element(By.CSS_SELECTOR, ".message").text != first)
    click(browser, browser.find_element(By.ID, "cancel-job"))
    wait(browser, lambda d: panel.get_attribute("data-status") == "canceled")
    assert console.api("GET", f"/jobs/{job_id}").json()["status"] == "canceled"
    httpx.delete(f"{console.simulator('stability')}/_simulator/faults")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_no_serious_accessibility_violations(
    browser: webdriver.Chrome, console: Console, page: str
) -> None:
    sign_in(browser, console, page)
    assert_accessible_in_both_themes(browser)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_fits_a_phone_screen(browser: webdriver.Chrome, console: Console, page: str) -> None:
    """At 390 CSS pixels (a phone held upright) nothing makes the page scroll sideways."""
    metrics = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        sign_in(browser, console, page)
        wide = browser.execute_script(
            "const w = document.documentElement.clientWidth;"
            "return [...document.querySelectorAll('body *')]"
            ".filter((e) => !e.closest('.table-wrap') && e.getBoundingClientRect().right > w + 1)"
            ".map((e) => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className).slice(0, 5)"
        )
        assert not wide, wide
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"
        )
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_create_estimate_follows_the_batch_size_and_results_are_labelled_simulated(
    browser: webdriver.Chrome, console: Console
) -> None:
    sign_in(browser, console, "create")
    browser.find_element(By.CSS_SELECTOR, "textarea").send_keys("a red bicycle by the sea")
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=template_id] select")).select_by_value(
        "instagram_feed_square"
    )
    estimate = shown(browser, "#estimate")
    wait(browser, lambda d: estimate.get_attribute("data-credits"))
    one = int(estimate.get_attribute("data-credits"))
    count = browser.find_element(By.CSS_SELECTOR, ".field[data-field=count] input")
    count.clear()
    count.send_keys("3")
    wait(browser, lambda d: estimate.get_attribute("data-credits") == str(one * 3))
    click(browser, browser.find_element(By.CSS_SELECTOR, "[data-page=create] button[type=submit]"))
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results .output")) == 3)
    for card in browser.find_elements(By.CSS_SELECTOR, "#results .output"):
        assert "simulated" in card.text and "seed" in card.text and "credits" in card.text, card.text


def test_edit_paints_a_mask_and_inpaints_on_the_local_path(
    browser: webdriver.Chrome, console: Console
) -> None:
    canvas = inpaint_canvas(browser, console, "edit.png")
    ActionChains(browser).move_to_element(canvas).click_and_hold().move_by_offset(30, 10).release().perform()
    assert canvas.get_attribute("data-painted") == "true"
    browser.find_element(By.CSS_SELECTOR, ".field[data-field=prompt] textarea").send_keys("a blue sky")
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=path] select")).select_by_value("local")
    click(browser, browser.find_element(By.CSS_SELECTOR, "[data-page=edit] button[type=submit]"))
    shown(browser, "#results .before-after")
    job_id = shown(browser, "#results .job-live").get_attribute("data-job")
    job = console.api("GET", f"/jobs/{job_id}").json()
    assert job["status"] == "succeeded", job
    sent = browser.execute_script(
        "return JSON.parse(localStorage.getItem('imagestudio.sent'))[arguments[0]]", job_id
    )
    mask = console.api("GET", f"/uploads/{sent['body']['mask']}").json()
    assert (mask["width"], mask["height"], mask["format"]) == (320, 240, "png"), mask


def test_create_browses_by_category_recommends_for_a_use_case_and_sends_persona_and_model(
    browser: webdriver.Chrome, console: Console
) -> None:
    persona = console.api("POST", "/personas", json={"name": "Harbour Coffee", "tone": "warm, calm"})
    assert persona.status_code == 201, persona.text
    products = {t["id"] for t in console.api("GET", "/templates?category=product").json()["templates"]}
    sign_in(browser, console, "create")
    form = browser.find_element(By.CSS_SELECTOR, "[data-page=create] form")
    template = Select(form.find_element(By.CSS_SELECTOR, ".field[data-field=template_id] select"))
    every = len(template.options)
    Select(form.find_element(By.XPATH, ".//label[.='Category']/following-sibling::select")).select_by_value(
        "product"
    )
    wait(browser, lambda d: len(template.options) < every)
    assert {o.get_attribute("value") for o in template.options} - {""} == products

    form.find_element(By.CSS_SELECTOR, ".field[data-field=use_case] input").send_keys("product launch teaser")
    click(browser, form.find_element(By.XPATH, ".//button[.='Recommend']"))
    first = shown(browser, ".recommendations li[data-template] button")
    recommended = first.find_element(By.XPATH, "..").get_attribute("data-template")
    assert "'launch'" in first.find_element(By.XPATH, "..").text  # each pick says why
    click(browser, first)
    wait(browser, lambda d: template.first_selected_option.get_attribute("value") == recommended)
    assert shown(browser, "#template-about").text

    provider = Select(form.find_element(By.CSS_SELECTOR, ".field[data-field=provider] select"))
    assert (
        "simulated" in provider.first_selected_option.text
        or provider.first_selected_option.text.startswith("Auto")
    )
    assert any("simulated" in o.text for o in provider.options)
    assert not form.find_element(By.CSS_SELECTOR, ".field[data-field=model]").is_displayed()
    provider.select_by_value("stability")
    model = Select(shown(browser, ".field[data-field=model] select"))
    model.select_by_value("core")
    Select(form.find_element(By.CSS_SELECTOR, ".field[data-field=persona_id] select")).select_by_value(
        persona.json()["id"]
    )
    form.find_element(By.CSS_SELECTOR, "textarea").send_keys("a ceramic mug on a harbour wall")
    click(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    job_id = shown(browser, "#results .job-live").get_attribute("data-job")
    params = console.api("GET", f"/jobs/{job_id}").json()["params"]
    assert (params["template_id"], params["provider"], params["model"], params["persona_id"]) == (
        recommended,
        "stability",
        "core",
        persona.json()["id"],
    ), params
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results .output"))
    card = browser.find_element(By.CSS_SELECTOR, "#results .output").text
    assert "stability · core" in card and "seed" in card and "credits" in card, card
    assert not axe_violations(browser)


def test_edit_takes_reference_images_where_the_catalogue_says_and_sends_their_uploads(
    browser: webdriver.Chrome, console: Console
) -> None:
    catalogue = console.api("GET", "/edit/operations").json()["operations"]
    takes = {
        op["id"]: {n for n, spec in op["inputs"].items() if spec["type"] == "file"} - {"image", "mask"}
        for op in catalogue
    }
    sign_in(browser, console, "edit")
    operation = Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=operation] select"))
    for op_id, references in takes.items():
        operation.select_by_value(op_id)
        pickers = browser.find_elements(By.CSS_SELECTOR, "[data-page=edit] form .field input[type=file]")
        named = {
            p.find_element(By.XPATH, "..").get_attribute("data-field") for p in pickers if p.is_displayed()
        }
        assert named == {""} | references, op_id  # "": the image's own picker, in the drop zone
    assert takes["replace_background_relight"] == {"background_reference", "light_reference"}
    operation.select_by_value("replace_background_relight")
    choose_file(
        browser, console, "[data-page=edit] .drop input[type=file]", "subject.png", width=512, height=512
    )
    wait(
        browser,
        lambda d: d.find_element(By.CSS_SELECTOR, "[data-page=edit] form").get_attribute("data-upload"),
    )
    choose_file(
        browser, console, ".field[data-field=background_reference] input", "beach.png", width=512, height=512
    )
    picker = browser.find_element(By.CSS_SELECTOR, ".field[data-field=background_reference] input")
    reference = wait(browser, lambda d: picker.get_attribute("data-upload"))
    assert (
        "Uploaded beach.png" in shown(browser, ".field[data-field=background_reference] .upload-state").text
    )
    assert not axe_violations(browser)
    click(browser, browser.find_element(By.CSS_SELECTOR, "[data-page=edit] button[type=submit]"))
    job_id = shown(browser, "#results .job-live").get_attribute("data-job")
    sent = browser.execute_script(
        "return JSON.parse(localStorage.getItem('imagestudio.sent'))[arguments[0]]", job_id
    )
    assert sent["body"]["background_reference"] == reference and "light_reference" not in sent["body"]
    shown(browser, "#results .before-after")
    assert console.api("GET", f"/jobs/{job_id}").json()["status"] == "succeeded"


def test_control_builds_its_form_from_the_catalogue_and_shows_the_result_and_its_control_map(
    browser: webdriver.Chrome, console: Console
) -> None:
    catalogue = {op["id"]: op for op in console.api("GET", "/control/operations").json()["operations"]}
    structure = catalogue["structure"]
    sign_in(browser, console, "control")
    operation = Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=operation] select"))
    for op_id, op in catalogue.items():
        operation.select_by_value(op_id)
        named = {
            box.get_attribute("data-field")
            for box in browser.find_elements(By.CSS_SELECTOR, "[data-page=control] form .field[data-field]")
        } - {"operation"}
        assert named == {*op["required"], *op["optional"]}, op_id
        pickers = browser.find_elements(By.CSS_SELECTOR, "[data-page=control] form .field input[type=file]")
        assert {p.find_element(By.XPATH, "..").get_attribute("data-field") for p in pickers} == set(
            op["images"]
        )
    operation.select_by_value("structure")
    strength = browser.find_element(By.CSS_SELECTOR, ".field[data-field=control_strength] input")
    spec = structure["inputs"]["control_strength"]
    assert strength.get_attribute("value") == str(structure["defaults"]["control_strength"])
    bounds = (float(strength.get_attribute("min")), float(strength.get_attribute("max")))
    assert bounds == (spec["minimum"], spec["maximum"]), bounds
    providers = browser.find_element(By.CSS_SELECTOR, "[data-page=control] [data-provider=stability]").text
    assert "simulated" in providers and f"{structure['providers'][0]['credits']} credits" in providers
    estimate = shown(browser, "#estimate")
    priced = console.api(
        "POST", "/estimate-cost", json={"studio": "control", "params": {"operation": "structure"}}
    ).json()
    wait(browser, lambda d: estimate.get_attribute("data-credits") == str(priced["total_credits"]))

    choose_file(browser, console, ".field[data-field=image] input", "house.png", width=640, height=480)
    picker = browser.find_element(By.CSS_SELECTOR, ".field[data-field=image] input")
    image_upload = wait(browser, lambda d: picker.get_attribute("data-upload"))
    browser.find_element(By.CSS_SELECTOR, ".field[data-field=prompt] textarea").send_keys("a glass house")
    strength.clear()
    strength.send_keys("0")  # 0.0 is a strength like any other, sent as given
    assert not axe_violations(browser)
    click(browser, browser.find_element(By.CSS_SELECTOR, "[data-page=control] button[type=submit]"))
    mapped = shown(browser, "#results .output[data-name=control_map]")
    result = shown(browser, "#results .output[data-name=controlled]")
    for card in (mapped, result):
        image = card.find_element(By.TAG_NAME, "img")
        wait(browser, lambda d, image=image: image.get_attribute("naturalWidth") not in (None, "0"))
    assert "Control map" in mapped.text and "640×480" in mapped.text, mapped.text
    assert "simulated" in result.text and "stability" in result.text, result.text
    job_id = shown(browser, "#results .job-live").get_attribute("data-job")
    sent = browser.execute_script(
        "return JSON.parse(localStorage.getItem('imagestudio.sent'))[arguments[0]]", job_id
    )
    assert sent["body"]["image"] == image_upload and sent["body"]["control_strength"] == 0
    job = console.api("GET", f"/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["params"]["strengths"] == {"control_strength": 0.0}, job
    assert {o["name"] for o in job["outputs"]} == {"controlled", "control_map"}
    assert not axe_violations(browser)
