"""Write a screenshot of each console page to docs/console/ (run by hand, not by the tests).

    .venv/bin/python tests/e2e/console_screenshots.py [--out docs/console]

Starts `imagestudio up` in a temporary folder, runs one social job so the pages have content,
and saves <page>.png for every page at desktop width.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from support import ROOT, imagestudio_up, make_image  # noqa: E402

PAGES = ["", "create", "edit", "upscale", "social", "jobs", "assets", "webhooks"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    with (
        tempfile.TemporaryDirectory() as tmp,
        imagestudio_up(Path(tmp), data_dir=Path(tmp) / "data") as (base, _),
    ):
        import httpx

        key = (Path(tmp) / "data" / "dev-api-key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        upload = httpx.post(f"{base}/api/image-studio/uploads", headers=headers, files={"file": make_image()})
        httpx.post(
            f"{base}/api/image-studio/social/optimize",
            headers=headers,
            json={"image": upload.json()["id"], "platforms": ["instagram"]},
        )
        driver = webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))
        try:
            driver.get(f"{base}/studio/#key={key}")
            for page in PAGES:
                driver.get(f"{base}/studio/#/{page}")
                driver.implicitly_wait(5)
                driver.find_element("css selector", f"[data-page={page or 'dashboard'}] h1")
                driver.save_screenshot(str(out / f"{page or 'dashboard'}.png"))
                print(out / f"{page or 'dashboard'}.png")  # noqa: T201
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
