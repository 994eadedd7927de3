"""Adjusting a format's crop by hand on the social page, in headless Chromium against `imagestudio up`.

At 1440×900 with the mouse and at 390×844 with touch (pointer events both): the crop's label drags
the box, its corner resizes it at the format's aspect ratio, the box stays inside the photo, the plan
the page asks for afterwards says ``user``, and the job renders exactly the box drawn.
"""

from __future__ import annotations

import pytest
from console_support import (
    Console,
    assert_accessible_in_both_themes,
    choose_file,
    click,
    shown,
    sign_in,
    uploaded,
    wait,
)
from PIL import Image, ImageDraw
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

PAGE = "[data-page=social]"
STORY = f"{PAGE} .crop-box[data-format='instagram.story']"
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


def box_of(element: WebElement) -> list[int]:
    return [int(v) for v in str(element.get_attribute("data-box")).split(",")]


def drag(browser: webdriver.Chrome, handle: WebElement, dx: int, dy: int, *, touch: bool) -> None:
    """Press on ``handle``'s centre, move by (dx, dy) CSS pixels in steps, let go: a mouse or a finger."""
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", handle)
    rect = handle.rect
    x, y = int(rect["x"] + rect["width"] / 2), int(rect["y"] + rect["height"] / 2)
    # Viewport coordinates: the page is scrolled, so measure the handle against the viewport.
    offset = browser.execute_script("return [window.scrollX, window.scrollY]")
    x, y = x - int(offset[0]), y - int(offset[1])
    # An input source's id keeps its type for the session: a finger and a mouse are two sources.
    pointer = (
        PointerInput(interaction.POINTER_TOUCH, "finger")
        if touch
        else PointerInput(interaction.POINTER_MOUSE, "mouse")
    )
    actions = ActionBuilder(browser, mouse=pointer)
    actions.pointer_action.move_to_location(x, y).pointer_down()
    for step in range(1, 5):
        actions.pointer_action.move_to_location(x + dx * step // 4, y + dy * step // 4)
    actions.pointer_action.pointer_up()
    actions.perform()


def story_drawn(browser: webdriver.Chrome, console: Console, name: str) -> tuple[str, WebElement]:
    """A 1200x800 photo chosen and Instagram ticked but its Reel cover (9:16 too: its crop would lie
    exactly over the Story's); the upload id and the Story's crop box once drawn."""
    choose_file(browser, console, f"{PAGE} .drop input[type=file]", name, width=1200, height=800)
    shown(browser, ".focal img")
    upload = uploaded(browser, "social")
    click(browser, browser.find_element(By.CSS_SELECTOR, "input[name=platform][value=instagram]"))
    click(browser, browser.find_element(By.CSS_SELECTOR, "input[name=format][value='instagram.reel']"))
    wait(
        browser,
        lambda d: not d.find_elements(By.CSS_SELECTOR, f"{PAGE} .crop-box[data-format='instagram.reel']"),
    )
    story: WebElement = wait(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, STORY) and d.find_element(By.CSS_SELECTOR, STORY)
    )
    return upload, story


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_crop_dragged_and_resized_is_the_crop_rendered(
    browser: webdriver.Chrome, console: Console, size: str
) -> None:
    sign_in(browser, console, "social")
    browser.set_window_size(*SIZES[size])
    touch = size == "phone"
    upload, story = story_drawn(browser, console, f"adjust-{size}.png")
    planned = box_of(story)
    assert story.get_attribute("data-set-by") == "studio"
    image = browser.find_element(By.CSS_SELECTOR, ".focal img")
    scale = 1200 / image.rect["width"]  # source pixels per CSS pixel

    # Move: the story's crop (the photo's full height) can only go sideways; drag it 200 source
    # pixels towards the side with more room (up and down too: it cannot leave the photo).
    toward = -1 if planned[0] >= (1200 - planned[2]) / 2 else 1
    label = story.find_element(By.CSS_SELECTOR, ".crop-label")
    drag(browser, label, toward * int(200 / scale), 40, touch=touch)
    story = wait(
        browser,
        lambda d: (
            d.find_element(By.CSS_SELECTOR, STORY).get_attribute("data-adjusted")
            and d.find_element(By.CSS_SELECTOR, STORY)
        ),
    )
    moved = box_of(story)
    # The plan asked for afterwards honours the box and says the user set it.
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, STORY).get_attribute("data-set-by") == "user")
    story = browser.find_element(By.CSS_SELECTOR, STORY)
    assert box_of(story) == moved
    assert moved[1:] == planned[1:]  # sideways only, same size
    assert abs(moved[0] - (planned[0] + toward * 200)) <= 2 * scale + 1, (planned, moved)

    # Resize from the corner: smaller, still 9:16 (within a pixel), still inside the photo.
    planned_before = browser.find_element(By.CSS_SELECTOR, f"{PAGE} .crop-layer").get_attribute(
        "data-planned"
    )
    corner = story.find_element(By.CSS_SELECTOR, ".crop-handle")
    drag(browser, corner, -int(120 / scale), -int(120 / scale), touch=touch)

    def resized(d: webdriver.Chrome) -> list[int] | bool:
        now = box_of(d.find_element(By.CSS_SELECTOR, STORY))
        return now if now[2] < moved[2] else False

    x, y, w, h = wait(browser, resized)
    layer = browser.find_element(By.CSS_SELECTOR, f"{PAGE} .crop-layer")
    assert layer.get_attribute("data-pointer") == ("touch" if touch else "mouse")
    assert abs(w * 16 - h * 9) <= 16, (w, h)
    assert (x, y) == (moved[0], moved[1]) and x + w <= 1200 and y + h <= 800

    # Redrawn from the plan of the new box, it stays where it was let go.
    wait(
        browser,
        lambda d: (
            d.find_element(By.CSS_SELECTOR, f"{PAGE} .crop-layer").get_attribute("data-planned")
            != planned_before
        ),
    )
    assert box_of(browser.find_element(By.CSS_SELECTOR, STORY)) == [x, y, w, h]
    assert shown(browser, "#reset-crops").is_displayed()
    if size == "desktop":
        assert_accessible_in_both_themes(browser)

    # The job renders exactly that box for the story, the studio's for the other formats.
    click(browser, browser.find_element(By.CSS_SELECTOR, f"{PAGE} button[type=submit]"))
    shown(browser, "#download-zip")
    job_id = shown(browser, "#results .job-live").get_attribute("data-job")
    job = console.api("GET", f"/jobs/{job_id}").json()
    assert job["params"]["crops"] == {"instagram.story": [x, y, w, h]}
    outputs = {o["name"]: o["metadata"] for o in job["outputs"] if o["kind"] == "image"}
    assert outputs["instagram.story"]["crop_box"] == [x, y, w, h]
    assert outputs["instagram.story"]["crop_set_by"] == "user"
    others = {name: meta["crop_set_by"] for name, meta in outputs.items() if name != "instagram.story"}
    assert others and set(others.values()) == {"studio"}
    plan = console.api(
        "POST",
        "/social/plan",
        json={
            "image": upload,
            "formats": ["instagram.story"],
            "crops": {"instagram.story": {"x": x, "y": y, "width": w, "height": h}},
        },
        headers={"Prefer": "wait=20"},
    ).json()
    assert plan["outputs"][0]["metadata"]["formats"][0]["crop_box"] == [x, y, w, h]


def test_arrow_keys_move_a_crop_and_reset_puts_the_studios_back(
    browser: webdriver.Chrome, console: Console
) -> None:
    sign_in(browser, console, "social")
    _, story = story_drawn(browser, console, "keys.png")
    planned = box_of(story)
    label = story.find_element(By.CSS_SELECTOR, ".crop-label")
    browser.execute_script("arguments[0].focus()", label)
    left = planned[0] >= 24  # a step is 2 % of the 1200-pixel width
    ActionChains(browser).send_keys(Keys.ARROW_LEFT if left else Keys.ARROW_RIGHT).perform()
    wait(
        browser,
        lambda d: box_of(d.find_element(By.CSS_SELECTOR, STORY))[0] == planned[0] + (-24 if left else 24),
    )
    click(browser, shown(browser, "#reset-crops"))
    wait(
        browser,
        lambda d: (
            d.find_element(By.CSS_SELECTOR, STORY).get_attribute("data-set-by") == "studio"
            and box_of(d.find_element(By.CSS_SELECTOR, STORY)) == planned
        ),
    )


def test_the_preview_says_why_a_subject_stays_outside_the_story_safe_zone(
    browser: webdriver.Chrome, console: Console
) -> None:
    # A 1200x800 product photo whose product starts at 10 % of the height, under the Story's 14 %
    # band: the Story's crop (450x800) is already smaller than its 1080x1920 output, so no zoom
    # is tried, and the preview says so in words beside zoom 1.00×.
    image = Image.new("RGB", (1200, 800), (240, 240, 240))
    ImageDraw.Draw(image).rectangle((520, 80, 680, 340), fill=(30, 60, 150))
    path = console.tmp / "high-product.png"
    image.save(path, "PNG")
    sign_in(browser, console, "social")
    browser.find_element(By.CSS_SELECTOR, f"{PAGE} .drop input[type=file]").send_keys(str(path))
    shown(browser, ".focal img")
    click(browser, browser.find_element(By.CSS_SELECTOR, "input[name=platform][value=instagram]"))
    note = "#crop-plan-notes li[data-format='instagram.story']"
    story: WebElement = wait(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, note) and d.find_element(By.CSS_SELECTOR, note)
    )

    assert story.get_attribute("data-zoom-limit") == "source_resolution"
    assert (
        "the subject stays outside the safe zone at zoom 1.00×" in story.text
        and "too few pixels" in story.text
    )
    drawn = browser.find_element(By.CSS_SELECTOR, STORY)
    assert drawn.get_attribute("data-zoom-limit") == "source_resolution"
    # The square feed crop places it inside: no note for it.
    assert not browser.find_elements(
        By.CSS_SELECTOR, "#crop-plan-notes li[data-format='instagram.feed_square']"
    )
    assert_accessible_in_both_themes(browser)
