"""The console as a studio in headless Chromium against `imagestudio up` (issue 28).

The output is in view after a submit on a desktop and on a phone; a result is taken into the next
studio by its asset id (no upload from the browser); a page keeps its state across Back; every
form copies the request it sends as curl, Python and TypeScript; the header is short on a phone.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from console_support import (
    Console,
    assert_accessible_in_both_themes,
    choose_file,
    click,
    inpaint_canvas,
    shown,
    sign_in,
    wait,
    wait_for_page,
)
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select
from standardwebhooks import Webhook
from support import wait_for
from unit.webhooks.webhook_receiver import Receiver

SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


@contextmanager
def screen(browser: webdriver.Chrome, size: str) -> Iterator[None]:
    width, height = SIZES[size]
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == "phone"}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        yield
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def in_viewport(browser: webdriver.Chrome, css: str) -> bool:
    """The element's box lies inside the window, below the sticky header."""
    return bool(
        browser.execute_script(
            "const e = document.querySelector(arguments[0]); if (!e) return false;"
            "const r = e.getBoundingClientRect(); const top = document.querySelector('.top').getBoundingClientRect().bottom;"
            "return r.top >= top - 1 && r.bottom <= innerHeight + 1 && r.height > 0",
            css,
        )
    )


def sent(browser: webdriver.Chrome, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = browser.execute_script(
        "return JSON.parse(localStorage.getItem('imagestudio.sent'))[arguments[0]]", job_id
    )
    return found


def compress_a_photo(browser: webdriver.Chrome, console: Console, name: str = "coffee.png") -> str:
    """Upload a photo on the Compress page, submit at quality 70; the job's id once it succeeded."""
    choose_file(browser, console, "[data-page=compress] .drop input[type=file]", name, width=480, height=320)
    shown(browser, "[data-page=compress] form[data-upload]")
    shown(browser, "#results .input-preview img")  # the output area shows the input before any job
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=mode] select")).select_by_value("quality")
    quality = browser.find_element(By.CSS_SELECTOR, ".field[data-field=quality] input")
    quality.clear()
    quality.send_keys("70")
    click(browser, browser.find_element(By.CSS_SELECTOR, "[data-page=compress] button[type=submit]"))
    job_id: str = shown(browser, "#results .job-live").get_attribute("data-job")
    wait(
        browser,
        lambda d: (
            d.find_element(By.CSS_SELECTOR, "#results .job-live").get_attribute("data-status") == "succeeded"
        ),
    )
    shown(browser, "#results .output")
    return job_id


def test_after_submit_the_progress_is_in_view_on_a_desktop_and_a_phone(
    browser: webdriver.Chrome, console: Console
) -> None:
    for size in SIZES:
        with screen(browser, size):
            sign_in(browser, console, "compress")
            browser.execute_script("scrollTo(0, 0)")
            assert shown(browser, "#results .placeholder").text  # never empty, even before an image
            choose_file(
                browser,
                console,
                "[data-page=compress] .drop input[type=file]",
                f"{size}.png",
                width=400,
                height=300,
            )
            shown(browser, "#results .input-preview img")
            submit = browser.find_element(By.CSS_SELECTOR, "[data-page=compress] button[type=submit]")
            click(browser, submit)
            shown(browser, "#results .job-live")
            wait(browser, lambda d: in_viewport(d, "#results .job-live"), timeout=10)
            wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results .output"))
            assert in_viewport(browser, "#results .job-live"), size


def test_a_result_goes_to_edit_by_its_asset_id_and_runs_there_without_an_upload(
    browser: webdriver.Chrome, console: Console
) -> None:
    sign_in(browser, console, "compress")
    job_id = compress_a_photo(browser, console)
    asset_id = console.api("GET", f"/jobs/{job_id}").json()["outputs"][0]["id"]
    card = shown(browser, f"#results .output[data-asset='{asset_id}']")
    download = card.find_element(By.CSS_SELECTOR, "a[download]").get_attribute("download")
    assert download.startswith("coffee – compress."), download  # the source file's name kept
    links = {a.get_attribute("data-use") for a in card.find_elements(By.CSS_SELECTOR, ".use-in a")}
    assert links == {"edit", "upscale", "social", "compress", "control"}
    browser.execute_script("window.uploads = 0")
    click(browser, card.find_element(By.CSS_SELECTOR, ".use-in a[data-use=edit]"))
    wait_for_page(browser, "edit")
    form = shown(browser, "[data-page=edit] form[data-upload]")
    upload_id = form.get_attribute("data-upload")
    upload = console.api("GET", f"/uploads/{upload_id}").json()
    assert (upload["width"], upload["height"]) == (480, 320), upload
    shown(browser, "#results .input-preview img")
    # The mask editor opened on the brought-in image (shown for the operations that take an area).
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".mask-stage canvas"))
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=operation] select")).select_by_value(
        "remove_background"
    )
    path = browser.find_elements(By.CSS_SELECTOR, ".field[data-field=path] select")
    if path:
        Select(path[0]).select_by_value("local")
    click(browser, browser.find_element(By.CSS_SELECTOR, "[data-page=edit] button[type=submit]"))
    edit_id = shown(browser, "#results .job-live").get_attribute("data-job")
    assert sent(browser, edit_id)["body"]["image"] == upload_id
    wait(browser, lambda d: console.api("GET", f"/jobs/{edit_id}").json()["status"] == "succeeded")
    shown(browser, "#results .output")


def test_a_page_keeps_its_form_image_and_result_across_navigation_and_back(
    browser: webdriver.Chrome, console: Console
) -> None:
    sign_in(browser, console, "compress")
    job_id = compress_a_photo(browser, console, "harbour.png")
    shown(browser, f".history li[data-job='{job_id}'] img")  # the studio's history strip, updated live
    click(browser, browser.find_element(By.CSS_SELECTOR, "#nav a[href='#/jobs']")) if browser.find_element(
        By.CSS_SELECTOR, "#nav"
    ).is_displayed() else browser.get(f"{console.base}/studio/#/jobs")
    wait_for_page(browser, "jobs")
    browser.back()
    wait_for_page(browser, "compress")
    assert (
        browser.find_element(By.CSS_SELECTOR, ".field[data-field=quality] input").get_attribute("value")
        == "70"
    )
    assert (
        Select(
            browser.find_element(By.CSS_SELECTOR, ".field[data-field=mode] select")
        ).first_selected_option.get_attribute("value")
        == "quality"
    )
    assert shown(browser, "#results .job-live").get_attribute("data-job") == job_id
    shown(browser, "#results .output")
    assert "harbour.png" in shown(browser, "[data-page=compress] form [role=status]").text


def test_every_form_copies_the_request_it_sends_as_curl_python_and_typescript(
    browser: webdriver.Chrome, console: Console
) -> None:
    sign_in(browser, console, "compress")
    job_id = compress_a_photo(browser, console)
    body = sent(browser, job_id)["body"]
    click(browser, browser.find_element(By.CSS_SELECTOR, ".copy-as summary"))
    snippets = {}
    for kind in ("curl", "python", "typescript"):
        click(browser, browser.find_element(By.CSS_SELECTOR, f".copy-as button[data-copy={kind}]"))
        wait(
            browser,
            lambda d, kind=kind: (
                d.find_element(By.CSS_SELECTOR, ".copy-as pre").get_attribute("data-kind") == kind
            ),
        )
        snippets[kind] = browser.find_element(By.CSS_SELECTOR, ".copy-as pre").text
    words = shlex.split(snippets["curl"].replace("\\\n", " "))
    assert words[:4] == ["curl", "-X", "POST", f"{console.base}/api/image-studio/compress"], words
    assert json.loads(words[words.index("-d") + 1]) == body
    namespace: dict[str, Any] = {}
    call = re.search(r"json=(.*),\n\)", snippets["python"], re.S)
    assert call, snippets["python"]
    exec(f"body = {call.group(1)}", namespace)  # the Python literal is the same body
    assert namespace["body"] == body
    assert f'"{console.base}/api/image-studio/compress"' in snippets["typescript"]
    for page in ("create", "edit", "upscale", "social", "control"):
        browser.get(f"{console.base}/studio/#/{page}")
        wait_for_page(browser, page)
        assert browser.find_elements(
            By.CSS_SELECTOR, f"[data-page={page}] form .copy-as button[data-copy=curl]"
        ), page


def test_jobs_rows_show_a_thumbnail_cost_and_name_and_run_again_works_for_compress(
    browser: webdriver.Chrome, console: Console
) -> None:
    sign_in(browser, console, "compress")
    job_id = compress_a_photo(browser, console)
    browser.get(f"{console.base}/studio/#/jobs")
    wait_for_page(browser, "jobs")
    row = shown(browser, f"tr[data-job='{job_id}']")
    assert row.find_element(By.CSS_SELECTOR, "img.thumb").get_attribute("src")
    assert re.search(r"\d+ credits", row.find_element(By.CSS_SELECTOR, ".cost").text)
    click(browser, row.find_element(By.CSS_SELECTOR, "a"))
    click(browser, shown(browser, "#retry-job"))
    wait(browser, lambda d: job_id not in d.current_url and "/jobs/" in d.current_url)
    again = browser.current_url.rsplit("/", 1)[1]
    job = console.api("GET", f"/jobs/{again}").json()
    assert job["studio"] == "compress" and job["params"]["quality"] == 70, job


def test_social_asks_for_a_platform_instead_of_rendering_every_format(
    browser: webdriver.Chrome, console: Console
) -> None:
    sign_in(browser, console, "social")
    choose_file(browser, console, "[data-page=social] .drop input[type=file]", "s.png", width=300, height=200)
    shown(browser, "[data-page=social] form[data-upload]")
    before = len(console.api("GET", "/jobs?limit=100").json()["items"])
    click(browser, browser.find_element(By.CSS_SELECTOR, "[data-page=social] button[type=submit]"))
    error = shown(browser, ".field[data-field=platforms] .error")
    assert "platform" in error.text.lower()
    assert len(console.api("GET", "/jobs?limit=100").json()["items"]) == before
    assert not browser.find_element(By.CSS_SELECTOR, "input[name=safe_zone_overlay]").is_selected()


def test_a_large_view_zooms_and_compares_before_and_after(
    browser: webdriver.Chrome, console: Console
) -> None:
    sign_in(browser, console, "compress")
    compress_a_photo(browser, console)
    click(browser, shown(browser, "#results .output .view-large"))
    dialog = shown(browser, "dialog.viewer[open]")
    assert dialog.find_element(By.CSS_SELECTOR, "input[type=range]")
    stage = dialog.find_element(By.CSS_SELECTOR, ".ba-stage")
    width = stage.size["width"]
    Select(dialog.find_element(By.CSS_SELECTOR, "select")).select_by_value("2")
    wait(browser, lambda d: stage.size["width"] > 1.9 * width)
    assert_accessible_in_both_themes(browser)
    click(browser, dialog.find_element(By.XPATH, ".//button[.='Close']"))
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog.viewer"))


def test_the_header_is_one_short_line_on_a_phone_with_the_studios_behind_a_menu(
    browser: webdriver.Chrome, console: Console
) -> None:
    with screen(browser, "phone"):
        sign_in(browser, console, "edit")
        header = browser.find_element(By.CSS_SELECTOR, "header.top")
        assert header.size["height"] <= 64, header.size
        assert not browser.find_element(By.ID, "nav").is_displayed()
        menu = shown(browser, "#menu")
        click(browser, menu)
        assert menu.get_attribute("aria-expanded") == "true"
        click(browser, shown(browser, "#nav a[href='#/upscale']"))
        wait_for_page(browser, "upscale")
        assert not browser.find_element(By.ID, "nav").is_displayed()
        assert_accessible_in_both_themes(browser)


def test_create_takes_the_templates_quality(browser: webdriver.Chrome, console: Console) -> None:
    templates = console.api("GET", "/templates").json()["templates"]
    premium = next(t for t in templates if t["quality"] != "standard")
    sign_in(browser, console, "create")
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=template_id] select")).select_by_value(
        premium["id"]
    )
    quality = Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=quality] select"))
    wait(browser, lambda d: quality.first_selected_option.get_attribute("value") == premium["quality"])


def test_webhooks_send_a_signed_test_event_from_the_endpoint_row(
    browser: webdriver.Chrome, console: Console
) -> None:
    with Receiver() as receiver:
        sign_in(browser, console, "webhooks")
        browser.find_element(By.CSS_SELECTOR, ".field[data-field=url] input").send_keys(receiver.url)
        click(browser, browser.find_element(By.XPATH, "//button[text()='Add endpoint']"))
        secret = shown(browser, "#secret-shown code.secret").text
        assert not browser.find_elements(By.CSS_SELECTOR, "input[name=event][value='webhook.test']")
        row = shown(browser, "#endpoints tr[data-endpoint]")
        endpoint_id = row.get_attribute("data-endpoint")
        click(browser, row.find_element(By.CSS_SELECTOR, "button[data-action=test]"))
        wait_for(lambda: receiver.of_type("webhook.test"), timeout=60, what="the test event")
        event = receiver.of_type("webhook.test")[0]
        body = Webhook(secret).verify(event.body, {k.lower(): v for k, v in event.headers.items()})
        assert body["data"]["endpoint_id"] == endpoint_id
        item = shown(browser, "li.delivery")
        wait(browser, lambda d: "webhook.test" in d.find_element(By.CSS_SELECTOR, "li.delivery").text)
        assert item.get_attribute("data-delivery")


def test_the_mask_is_tinted_undone_and_redone_with_the_keys_and_zooms(
    browser: webdriver.Chrome, console: Console
) -> None:
    canvas = inpaint_canvas(browser, console, "m.png")
    painted = (
        "const c = arguments[0]; const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0, red = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) { n++; if (d[i - 3] > 200 && d[i - 2] < 100) red++; }"
        "return [n, red]"
    )
    ActionChains(browser).move_to_element(canvas).click_and_hold().move_by_offset(60, 0).release().perform()
    count, red = browser.execute_script(painted, canvas)
    assert count > 0 and red == count  # a tint, not white: visible on light areas too
    assert shown(browser, ".mask-stage .brush")  # the brush's outline follows the pointer
    ActionChains(browser).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()
    assert browser.execute_script(painted, canvas)[0] == 0
    ActionChains(browser).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys("z").key_up(
        Keys.SHIFT
    ).key_up(Keys.CONTROL).perform()
    assert browser.execute_script(painted, canvas)[0] == count
    stage = browser.find_element(By.CSS_SELECTOR, ".mask-stage")
    width = stage.size["width"]
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=mask_zoom] select")).select_by_value("2")
    wait(browser, lambda d: stage.size["width"] > 1.8 * width)  # twice the scroller, less its scroll bar


def test_a_recommendation_for_a_named_platform_comes_from_that_platform(
    browser: webdriver.Chrome, console: Console
) -> None:
    platforms = {t["id"]: t["platform"] for t in console.api("GET", "/templates").json()["templates"]}
    sign_in(browser, console, "create")
    browser.find_element(By.CSS_SELECTOR, ".field[data-field=use_case] input").send_keys(
        "instagram product launch"
    )
    click(browser, browser.find_element(By.XPATH, "//button[.='Recommend']"))
    first = shown(browser, ".recommendations li[data-template]").get_attribute("data-template")
    assert platforms[first] == "instagram", first


def test_the_first_asset_is_above_the_fold_on_a_phone_and_previews_wait_to_be_asked_for(
    browser: webdriver.Chrome, console: Console
) -> None:
    sign_in(browser, console, "compress")
    compress_a_photo(browser, console)
    with screen(browser, "phone"):
        browser.get(f"{console.base}/studio/#/assets")
        wait_for_page(browser, "assets")
        image = shown(browser, "li.asset img")
        top = browser.execute_script("return arguments[0].getBoundingClientRect().top", image)
        assert top < browser.execute_script("return innerHeight"), top
        kinds = {
            console.api("GET", f"/assets/{a.get_attribute('data-asset')}").json()["kind"]
            for a in browser.find_elements(By.CSS_SELECTOR, "li.asset")
        }
        assert kinds == {"image"}, kinds
        assert browser.find_elements(By.CSS_SELECTOR, "li.group[data-job]")  # grouped by job


def test_erase_picks_the_point_by_a_click_on_the_image(browser: webdriver.Chrome, console: Console) -> None:
    sign_in(browser, console, "edit")
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=operation] select")).select_by_value(
        "erase"
    )
    choose_file(
        browser, console, "[data-page=edit] .drop input[type=file]", "pick.png", width=320, height=240
    )
    canvas = shown(browser, ".mask-stage canvas")
    pick = browser.find_element(By.XPATH, "//label[contains(., 'Click picks the object')]/input")
    click(browser, pick)
    wait_for(pick.is_selected, timeout=10, what="the pick checkbox to be ticked")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    # On a loaded machine the page may still be laying out: click once the canvas stops moving.
    last: list[object] = [None]

    def still() -> bool:
        now = browser.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.x, r.y, r.width, r.height];", canvas
        )
        steady, last[0] = now == last[0], now
        return steady

    wait_for(still, timeout=10, interval=0.2, what="the canvas to stop moving")
    # A click three quarters across and half way down: the point in source pixels, not screen pixels.
    box = canvas.size
    ActionChains(browser).move_to_element_with_offset(
        canvas, box["width"] // 4, 0
    ).click().perform()  # offsets are from the centre

    def point() -> list[str]:
        return [
            browser.find_element(By.CSS_SELECTOR, f".field[data-field={n}] input").get_attribute("value")
            or ""
            for n in ("point_x", "point_y")
        ]

    try:
        wait_for(lambda: all(point()), timeout=10, interval=0.1, what="the click's point in the fields")
    except AssertionError as missing:  # say whether the canvas took the click at all
        raise AssertionError(
            f"{missing}; canvas data-point: {canvas.get_attribute('data-point')!r}"
        ) from None
    values = [int(v) for v in point()]
    assert abs(values[0] - 240) <= 3 and abs(values[1] - 120) <= 3, values
    assert shown(browser, ".mask-stage .point-marker")
    assert canvas.get_attribute("data-painted") is None  # a pick paints no mask
    # Inpaint takes no point: the pick is hidden and its marker cleared.
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=operation] select")).select_by_value(
        "inpaint"
    )
    assert not browser.find_elements(By.CSS_SELECTOR, ".mask-stage .point-marker:not([hidden])")


def test_the_jobs_and_assets_filters_offer_every_studio_and_filter_by_it(
    browser: webdriver.Chrome, console: Console
) -> None:
    """The studio filters list the API's studios (its ``Studio`` schema: no name it refuses, none
    missing), and choosing one lists only that studio's work."""
    studios = httpx.get(f"{console.base}/openapi.json").json()["components"]["schemas"]["Studio"]["enum"]
    sign_in(browser, console, "compress")
    compress_a_photo(browser, console)
    for page, select_css, item_css in (
        ("jobs", "[data-page=jobs] form select", "tr[data-job]"),
        ("assets", ".field[data-field=studio] select", "li.asset"),
    ):
        sign_in(browser, console, page)
        chooser = Select(browser.find_element(By.CSS_SELECTOR, select_css))
        offered = [o.get_attribute("value") for o in chooser.options if o.get_attribute("value")]
        assert offered == studios, (page, offered)
        browser.execute_script(
            "const s = document.querySelector(arguments[0]); s.value = 'compress';"
            "s.dispatchEvent(new Event('change', {bubbles: true}))",
            select_css,
        )

        def only_compress(d: webdriver.Chrome, item_css: str = item_css) -> bool:
            items = d.find_elements(By.CSS_SELECTOR, item_css)
            ids = [i.get_attribute("data-job") or i.get_attribute("data-asset") for i in items]
            if not ids:
                return False
            path = "/jobs/{}" if item_css.startswith("tr") else "/assets/{}"
            return all(console.api("GET", path.format(i)).json()["studio"] == "compress" for i in ids[:5])

        wait(browser, only_compress)


def test_the_theme_button_names_the_theme_a_press_switches_to(
    browser: webdriver.Chrome, console: Console
) -> None:
    sign_in(browser, console)
    browser.refresh()  # the page as loaded (the axe checks set the theme attribute by hand)
    wait_for_page(browser, "dashboard")
    button = shown(browser, "#theme")
    for _ in range(2):
        theme = browser.execute_script("return document.documentElement.dataset.theme")
        other = "light" if theme == "dark" else "dark"
        assert button.text == f"{other.capitalize()} theme", (theme, button.text)
        assert button.get_attribute("aria-pressed") == str(theme == "dark").lower()
        click(browser, button)
        wait(
            browser,
            lambda d, other=other: d.execute_script("return document.documentElement.dataset.theme") == other,
        )
    browser.execute_script("localStorage.removeItem('imagestudio.theme')")
