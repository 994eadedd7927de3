"""The social page as a design tool in headless Chromium against `imagestudio up` (issues 28, 29).

Once a photo and formats are chosen the page asks ``POST /social/plan`` and draws each format's
crop over the photo: the drawn boxes are the plan's, follow the focal point, and are the very crops
the job then renders (its outputs' metadata).
"""

from __future__ import annotations

from typing import Any

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
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

PAGE = "[data-page=social]"


def drawn(browser: webdriver.Chrome) -> dict[str, list[int]]:
    """Each drawn crop box by format key, as its data attribute gives it (source pixels)."""
    return {
        box.get_attribute("data-format"): [int(v) for v in box.get_attribute("data-box").split(",")]
        for box in browser.find_elements(By.CSS_SELECTOR, f"{PAGE} .crop-layer .crop-box")
    }


def planned_after(browser: webdriver.Chrome, before: str | None) -> str:
    """Wait until a newer plan than ``before`` is drawn; its number."""
    layer = browser.find_element(By.CSS_SELECTOR, f"{PAGE} .crop-layer")
    wait(browser, lambda d: layer.get_attribute("data-planned") not in (None, before))
    return str(layer.get_attribute("data-planned"))


def plan_formats(console: Console, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Each format's plan as the API answers the same request."""
    answer = console.api("POST", "/social/plan", json=body, headers={"Prefer": "wait=20"})
    assert answer.status_code == 200, answer.text
    (output,) = answer.json()["outputs"]
    formats: list[dict[str, Any]] = output["metadata"]["formats"]
    return formats


def plan(console: Console, body: dict[str, Any]) -> dict[str, list[int]]:
    """The plan's crop boxes by format."""
    return {f["format"]: f["crop_box"] for f in plan_formats(console, body)}


def subjects(console: Console, body: dict[str, Any]) -> set[tuple[int, ...]]:
    """The plan's subject and face boxes."""
    found = set()
    for entry in plan_formats(console, body):
        found |= {tuple(face) for face in entry["faces"]}
        if entry["subject_box"]:
            found.add(tuple(entry["subject_box"]))
    return found


def drawn_subjects(browser: webdriver.Chrome) -> set[tuple[int, ...]]:
    return {
        tuple(int(v) for v in box.get_attribute("data-box").split(","))
        for box in browser.find_elements(By.CSS_SELECTOR, f"{PAGE} .crop-layer .subject-box")
    }


def chosen_formats(browser: webdriver.Chrome) -> list[str]:
    return [
        e.get_attribute("value")
        for e in browser.find_elements(
            By.CSS_SELECTOR, "fieldset.checks:not([hidden]) input[name=format]:checked"
        )
    ]


def test_the_crops_drawn_over_the_photo_are_the_plans_and_the_jobs(
    browser: webdriver.Chrome, console: Console
) -> None:
    sign_in(browser, console, "social")
    choose_file(browser, console, f"{PAGE} .drop input[type=file]", "crops.png", width=900, height=600)
    image = shown(browser, ".focal img")
    upload = wait(
        browser, lambda d: d.find_element(By.CSS_SELECTOR, f"{PAGE} form").get_attribute("data-upload")
    )
    for platform in ("instagram", "youtube"):
        click(browser, browser.find_element(By.CSS_SELECTOR, f"input[name=platform][value={platform}]"))
    formats = chosen_formats(browser)
    wait(browser, lambda d: set(drawn(d)) == set(formats))
    first = planned_after(browser, None)
    boxes = drawn(browser)
    assert boxes == plan(console, {"image": upload, "formats": formats})
    assert len({tuple(b) for b in boxes.values()}) > 1  # different aspects, different crops

    # Each box is labelled with the format's human name and sits where its numbers say over the photo.
    story = browser.find_element(By.CSS_SELECTOR, f"{PAGE} .crop-box[data-format='instagram.story']")
    assert "Instagram" in story.text and "1080×1920" in story.text, story.text
    left, top, width, height = boxes["instagram.story"]
    picture = image.rect
    scale = picture["width"] / 900
    assert abs(story.rect["x"] - picture["x"] - left * scale) <= 1.5
    assert abs(story.rect["y"] - picture["y"] - top * scale) <= 1.5
    assert abs(story.rect["width"] - width * scale) <= 1.5
    assert abs(story.rect["height"] - height * scale) <= 1.5
    assert drawn_subjects(browser) == subjects(console, {"image": upload, "formats": formats})

    # A focal point at the left edge moves the crops and the page draws the new plan.
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", image)
    ActionChains(browser).move_to_element_with_offset(
        image, 3 - image.size["width"] // 2, 0
    ).click().perform()
    second = planned_after(browser, first)
    focal_x, focal_y = map(float, shown(browser, ".focal").get_attribute("data-focal").split(","))
    moved = drawn(browser)
    assert moved != boxes
    assert moved["instagram.story"][0] < left  # pulled left, towards the point
    assert moved == plan(
        console, {"image": upload, "formats": formats, "focal_x": focal_x, "focal_y": focal_y}
    )

    # Dropping a platform redraws with only the formats still chosen.
    click(browser, browser.find_element(By.CSS_SELECTOR, "input[name=platform][value=youtube]"))
    planned_after(browser, second)
    formats = chosen_formats(browser)
    assert set(drawn(browser)) == set(formats) and all(f.startswith("instagram.") for f in formats)
    moved = drawn(browser)
    assert_accessible_in_both_themes(browser)

    # The job renders the very crops drawn.
    click(browser, browser.find_element(By.CSS_SELECTOR, f"{PAGE} button[type=submit]"))
    shown(browser, "#download-zip")
    job_id = shown(browser, "#results .job-live").get_attribute("data-job")
    outputs = console.api("GET", f"/jobs/{job_id}").json()["outputs"]
    rendered = {o["name"]: o["metadata"]["crop_box"] for o in outputs if o["name"] in formats}
    assert rendered == moved


def test_a_custom_size_is_added_previewed_and_rendered(browser: webdriver.Chrome, console: Console) -> None:
    sign_in(browser, console, "social")
    browser.execute_script("sessionStorage.removeItem('imagestudio.state.social.custom')")
    browser.refresh()
    shown(browser, f"{PAGE} h1")
    choose_file(browser, console, f"{PAGE} .drop input[type=file]", "custom.png", width=900, height=600)
    upload = wait(
        browser, lambda d: d.find_element(By.CSS_SELECTOR, f"{PAGE} form").get_attribute("data-upload")
    )

    def fill(name: str, width: str, height: str) -> None:
        for field, value in (("custom_name", name), ("custom_width", width), ("custom_height", height)):
            box = browser.find_element(By.CSS_SELECTOR, f".field[data-field={field}] input")
            box.clear()
            box.send_keys(value)
        click(browser, browser.find_element(By.ID, "add-custom-size"))

    fill("partner banner", "1200", "1500")  # a space is not allowed in a name
    error = shown(browser, ".field[data-field=custom_name] .error")
    assert "letters, digits" in error.text
    assert not browser.find_elements(By.CSS_SELECTOR, ".custom-sizes li")
    fill("partner_banner", "1200", "9000")  # past the largest side
    assert "16 to 8192" in shown(browser, ".field[data-field=custom_height] .error").text
    fill("partner_banner", "1200", "1500")
    shown(browser, ".custom-sizes li[data-format='custom.partner_banner']")

    # No platform ticked: the custom size alone is previewed, labelled with its name and size.
    wait(browser, lambda d: set(drawn(d)) == {"custom.partner_banner"})
    box = browser.find_element(By.CSS_SELECTOR, f"{PAGE} .crop-box[data-format='custom.partner_banner']")
    assert box.text == "partner_banner 1200×1500"
    custom = {"name": "partner_banner", "width": 1200, "height": 1500}
    boxes = drawn(browser)
    assert boxes == plan(console, {"image": upload, "formats": [custom]})
    assert_accessible_in_both_themes(browser)

    click(browser, browser.find_element(By.CSS_SELECTOR, f"{PAGE} button[type=submit]"))
    shown(browser, "#download-zip")
    job_id = shown(browser, "#results .job-live").get_attribute("data-job")
    job = console.api("GET", f"/jobs/{job_id}").json()
    assert job["params"]["formats"] == ["custom.partner_banner"]
    (output,) = [o for o in job["outputs"] if o["name"] == "custom.partner_banner"]
    assert (output["width"], output["height"]) == (1200, 1500)
    assert output["metadata"]["crop_box"] == boxes["custom.partner_banner"]
    card = shown(browser, "#results .output[data-name='custom.partner_banner']")
    assert "partner_banner 1200×1500" in card.text

    # Removing it leaves nothing chosen: the page asks for a platform instead of rendering them all.
    click(browser, browser.find_element(By.CSS_SELECTOR, ".custom-sizes button"))
    wait(browser, lambda d: not drawn(d))
    click(browser, browser.find_element(By.CSS_SELECTOR, f"{PAGE} button[type=submit]"))
    assert "Choose a platform" in shown(browser, ".field[data-field=platforms] .error").text
