"""One flow per studio in headless Chromium against the distributed stack: the gateway (with every
provider simulator on loopback) and the studio's worker as real processes on RabbitMQ, PostgreSQL
and S3 (the integration fixtures, as ``tests/integration/test_create_distributed.py`` starts them).

Each flow submits from the studio's page and waits for the result in view; social adjusts a crop
first and checks the job rendered it; then "Run again" is clicked from the job's page with what this
browser sent forgotten, so the request is rebuilt from the job's params and its image copied on the
server (``POST /uploads {"job_id"}``): the second job must succeed too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_support import Console, choose_file, click, run_again, shown, sign_in, uploaded, wait
from console_tasks import TASKS, walk_task
from integration.conftest import Process, Services, create_key, services, simulated_gateway  # noqa: F401
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select
from support import every_simulator, wait_for
from unit.webhooks.webhook_receiver import Receiver

pytestmark = pytest.mark.integration


@dataclass
class Distributed:
    console: Console
    env: dict[str, str]
    tmp: Path


@pytest.fixture(scope="module")
def distributed(
    services: Services,  # noqa: F811 (the imported fixture)
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Distributed]:
    """The gateway process on PostgreSQL, RabbitMQ and S3 with the simulators; workers per test."""
    tmp = tmp_path_factory.mktemp("console-distributed")
    # A webhook task sends its test event to a receiver the test starts on loopback.
    loopback = {"IMAGESTUDIO_WEBHOOK_ALLOW_LOOPBACK": "true"}
    with simulated_gateway(every_simulator(), services.env, loopback, tmp / "gateway.log") as (base, env):
        key = create_key(services.env, f"console-{uuid.uuid4().hex[:6]}")
        yield Distributed(Console(base, key, f"{base}/studio/#key={key}", "", tmp), env, tmp)


def fill_create(browser: webdriver.Chrome, console: Console) -> None:
    shown(browser, "[data-page=create] textarea").send_keys("a red bicycle by the sea")


def fill_edit(browser: webdriver.Chrome, console: Console) -> None:
    Select(browser.find_element(By.CSS_SELECTOR, ".field[data-field=operation] select")).select_by_value(
        "remove_background"
    )
    choose_file(browser, console, "[data-page=edit] .drop input[type=file]", "cup.png", width=320, height=240)
    uploaded(browser, "edit")


def fill_upscale(browser: webdriver.Chrome, console: Console) -> None:
    choose_file(browser, console, "[data-page=upscale] input[type=file]", "small.png", width=64, height=48)
    uploaded(browser, "upscale")


def fill_social(browser: webdriver.Chrome, console: Console) -> None:
    choose_file(
        browser, console, "[data-page=social] .drop input[type=file]", "shop.png", width=1200, height=800
    )
    uploaded(browser, "social")
    click(browser, browser.find_element(By.CSS_SELECTOR, "input[name=platform][value=instagram]"))
    story = "[data-page=social] .crop-box[data-format='instagram.story']"
    label = wait(
        browser,
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, story)
            and d.find_element(By.CSS_SELECTOR, f"{story} .crop-label")
        ),
    )
    x = int(str(browser.find_element(By.CSS_SELECTOR, story).get_attribute("data-box")).split(",")[0])
    browser.execute_script("arguments[0].focus()", label)
    label.send_keys(Keys.ARROW_LEFT if x >= 24 else Keys.ARROW_RIGHT)  # adjusted by hand
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, story).get_attribute("data-set-by") == "user")


def fill_control(browser: webdriver.Chrome, console: Console) -> None:
    choose_file(browser, console, ".field[data-field=image] input", "house.png", width=640, height=480)
    picker = browser.find_element(By.CSS_SELECTOR, ".field[data-field=image] input")
    wait(browser, lambda d: picker.get_attribute("data-upload"))
    browser.find_element(By.CSS_SELECTOR, ".field[data-field=prompt] textarea").send_keys("a glass house")


def fill_compress(browser: webdriver.Chrome, console: Console) -> None:
    choose_file(
        browser, console, "[data-page=compress] .drop input[type=file]", "big.png", width=480, height=320
    )
    uploaded(browser, "compress")


FLOWS: dict[str, Callable[[webdriver.Chrome, Console], None]] = {
    "create": fill_create,
    "edit": fill_edit,
    "upscale": fill_upscale,
    "social": fill_social,
    "control": fill_control,
    "compress": fill_compress,
}


def succeeded(console: Console, job_id: str, worker: Process) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = console.api("GET", f"/jobs/{job_id}").json()
        assert job["status"] not in ("failed", "canceled", "expired"), (job, worker.output()[-3000:])
        return job if job["status"] == "succeeded" else None

    job: dict[str, Any] = wait_for(done, timeout=120, interval=0.3, what=f"job {job_id} to succeed")
    return job


@pytest.mark.parametrize("studio", list(FLOWS))
def test_each_studio_runs_from_the_console_and_again_on_the_distributed_stack(
    browser: webdriver.Chrome, distributed: Distributed, studio: str
) -> None:
    console = distributed.console
    worker = Process(["worker", studio], distributed.env, distributed.tmp / f"worker-{studio}.log")
    try:
        sign_in(browser, console, studio)
        FLOWS[studio](browser, console)
        click(
            browser, browser.find_element(By.CSS_SELECTOR, f"[data-page={studio}] form button[type=submit]")
        )
        panel = shown(browser, "#results .job-live")
        wait(browser, lambda d: panel.get_attribute("data-status") in ("succeeded", "failed"), timeout=120)
        assert panel.get_attribute("data-status") == "succeeded", worker.output()[-3000:]
        job = succeeded(console, str(panel.get_attribute("data-job")), worker)
        images = [o for o in job["outputs"] if o["content_type"].startswith("image/")]
        assert images
        first = images[0]
        assert "X-Amz-Signature=" in first["url"]  # served from S3 by a presigned link
        assert httpx.get(first["url"], timeout=10).status_code == 200
        if studio == "social":
            story = next(o for o in job["outputs"] if o["name"] == "instagram.story")
            assert story["metadata"]["crop_set_by"] == "user"
            assert story["metadata"]["crop_box"] == job["params"]["crops"]["instagram.story"]
        if studio != "create":  # the image's file name, kept by the upload, names the outputs
            assert job["source_names"] and first["filename"].startswith(
                next(iter(job["source_names"].values())).rsplit(".", 1)[0]
            )

        # Run again as if another client had sent it: this browser's record of what it sent is dropped.
        browser.execute_script("localStorage.removeItem('imagestudio.sent')")
        again_id = run_again(browser, console, job["id"])
        again = succeeded(console, again_id, worker)
        assert again["studio"] == job["studio"]
        assert [o["name"] for o in again["outputs"]] == [o["name"] for o in job["outputs"]]
    finally:
        worker.stop()


#: The workers each first-use task needs (favourite's image, when the library has none, is a compress job).
TASK_WORKERS = {
    "social set": ["social"],
    "template create": ["create"],
    "cut-out + inpaint": ["edit"],
    "upscale": ["upscale"],
    "compress": ["compress"],
    "favourite an asset": ["compress"],
    "webhook": ["webhooks"],
}


@pytest.mark.parametrize("task", list(TASKS))
def test_each_first_use_task_on_the_distributed_stack_takes_fewer_clicks_with_the_result_in_view(
    browser: webdriver.Chrome, distributed: Distributed, task: str
) -> None:
    """The walks of ``test_console_tasks.py`` at 1440×900, against the gateway and workers on
    RabbitMQ, PostgreSQL and S3 (downloads from presigned S3 links)."""
    workers = [
        Process(["worker", name], distributed.env, distributed.tmp / f"task-worker-{name}.log")
        for name in TASK_WORKERS[task]
    ]
    metrics = {"width": 1440, "height": 900, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        with Receiver() as receiver:
            extra: dict[str, object] = {"url": receiver.url} if task == "webhook" else {}
            if task == "cut-out + inpaint":
                extra["local_first"] = False  # the simulators pose as the vendors here
            walk = walk_task(browser, distributed.console, task, distributed.tmp / "downloads", **extra)
        assert walk.clicks < TASKS[task][0], walk.steps
    except AssertionError as failed:
        raise AssertionError(f"{failed}\n" + "\n".join(w.output()[-2000:] for w in workers)) from None
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        for worker in workers:
            worker.stop()
