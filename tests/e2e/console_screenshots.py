"""Write a screenshot of every console page in the nav to docs/console/ (run by hand, not by the tests).

    .venv/bin/python tests/e2e/console_screenshots.py [--out docs/console]

Starts `imagestudio up` in a temporary folder, runs a social and a create job so the pages have
content, and saves <page>.png for each page the nav links to (a page added there is included
without a change here): a 1280-wide viewport, as tall as the page up to 1800 pixels, reduced to a
256-colour palette so the committed files stay small.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # tests/ for support, tests/e2e for console_support

import httpx  # noqa: E402
from console_support import nav_pages, page_name, wait_for_page  # noqa: E402
from PIL import Image  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from support import ROOT, imagestudio_up, make_image, wait_for  # noqa: E402

WIDTH = 1280
MAX_HEIGHT = 1800


def seed(base: str, key: str) -> None:
    """One finished social job and one create job, so the dashboard and jobs pages show something."""
    api = httpx.Client(
        base_url=f"{base}/api/image-studio", headers={"Authorization": f"Bearer {key}"}, timeout=60
    )
    upload = api.post("/uploads", files={"file": ("photo.png", make_image(), "image/png")}).json()
    jobs = [
        api.post("/social/optimize", json={"image": upload["id"], "platforms": ["instagram"]}).json(),
        api.post("/create", json={"prompt": "a lighthouse at dawn, watercolour", "count": 2}).json(),
    ]
    for job in jobs:
        wait_for(
            lambda job=job: api.get(f"/jobs/{job['id']}").json()["status"] in ("succeeded", "failed"),
            timeout=120,
            interval=0.5,
            what=f"job {job['id']}",
        )


def save(png: bytes, path: Path) -> None:
    """The screenshot as an optimised 256-colour PNG (UI colours survive the palette)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def viewport(driver: webdriver.Chrome, height: int) -> None:
    """An exact CSS-pixel viewport (a headless window's size is clamped to its virtual screen)."""
    metrics = {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(argument)
    with (
        tempfile.TemporaryDirectory() as tmp,
        imagestudio_up(Path(tmp), data_dir=Path(tmp) / "data") as (base, _),
    ):
        key = (Path(tmp) / "data" / "dev-api-key").read_text().strip()
        seed(base, key)
        driver = webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))
        try:
            driver.get(f"{base}/studio/#key={key}")
            for route in nav_pages():
                viewport(driver, 900)
                driver.get(f"{base}/studio/#/{route}")
                wait_for_page(driver, page_name(route))
                viewport(driver, min(MAX_HEIGHT, driver.execute_script("return document.body.scrollHeight")))
                path = out / f"{page_name(route)}.png"
                save(driver.get_screenshot_as_png(), path)
                print(path, f"{path.stat().st_size // 1024} KB")  # noqa: T201
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
