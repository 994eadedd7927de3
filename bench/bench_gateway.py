"""Jobs accepted per second by the gateway in distributed mode, as a ratio to a bare FastAPI hello route.

Both servers run as one uvicorn process on loopback in the same run, driven by the same bounded
load loop (fixed request count, fixed concurrency, a time cap). The gateway request is a real
social submission: auth, multipart parse, image validation, S3 upload, PostgreSQL job + outbox
commit; the relay publishes to RabbitMQ with publisher confirms in the same process.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from _services import BIN, ROOT, distributed_env, free_port, process
from PIL import Image

REQUESTS = 400
CONCURRENCY = 8
TIME_CAP_SECONDS = 120


def drive(fn: Any) -> tuple[float, int]:
    """Run ``fn`` REQUESTS times over CONCURRENCY threads; returns (requests per second, failures)."""
    failures = 0
    started = time.perf_counter()
    deadline = started + TIME_CAP_SECONDS
    done = 0
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for ok in pool.map(lambda _: time.perf_counter() < deadline and fn(), range(REQUESTS)):
            done += 1
            failures += 0 if ok else 1
    return (done - failures) / (time.perf_counter() - started), failures


def photo() -> bytes:
    buf = io.BytesIO()
    Image.effect_mandelbrot((640, 480), (-2, -1.2, 1, 1.2), 100).convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def main() -> dict[str, Any]:
    image = photo()
    hello_port, gateway_port = free_port(), free_port()
    with distributed_env() as env:
        uvicorn = [str(BIN / "uvicorn"), "--log-level", "warning", "--no-access-log"]
        with process(
            [*uvicorn, "--app-dir", str(ROOT / "bench"), "hello_app:app", "--port", str(hello_port)],
            env,
            f"http://127.0.0.1:{hello_port}/hello",
        ):
            client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=CONCURRENCY))
            drive(lambda: client.get(f"http://127.0.0.1:{hello_port}/hello").status_code == 200)  # warm-up
            hello_rps, hello_fail = drive(
                lambda: client.get(f"http://127.0.0.1:{hello_port}/hello").status_code == 200
            )
        with process(
            [str(BIN / "imagestudio"), "up", "--port", str(gateway_port)],
            env,
            f"http://127.0.0.1:{gateway_port}/healthz",
        ):
            out = subprocess.run(
                [str(BIN / "imagestudio"), "keys", "create", "--tenant", "bench", "--tier", "enterprise"],
                env={**env, "NO_COLOR": "1"},
                capture_output=True,
                text=True,
                cwd=ROOT,
            ).stdout
            key = re.search(r"(isk_[A-Za-z0-9_-]+)", out)
            tenant = re.search(r"tenant: (\S+)", out)
            assert key and tenant, out
            # A negotiated plan far above the load, so the figures measure the gateway, not the tier.
            subprocess.run(
                [
                    str(BIN / "imagestudio"),
                    *("tenants", "set-limits", tenant.group(1)),
                    *("--requests-per-minute", "1000000", "--max-concurrent-jobs", "100000"),
                ],
                env={**env, "NO_COLOR": "1"},
                capture_output=True,
                check=True,
                cwd=ROOT,
            )
            headers = {"Authorization": f"Bearer {key.group(1)}"}
            url = f"http://127.0.0.1:{gateway_port}/api/image-studio/social/optimize"

            def submit() -> bool:
                r = client.post(
                    url,
                    headers=headers,
                    files={"image": ("p.jpg", image, "image/jpeg")},
                    data={"formats": "instagram.story"},
                )
                return r.status_code == 202

            for _ in range(20):
                submit()  # warm-up
            jobs_rps, jobs_fail = drive(submit)
    result = {
        "hello_requests_per_second": round(hello_rps, 1),
        "jobs_accepted_per_second": round(jobs_rps, 1),
        "ratio_jobs_to_hello": round(jobs_rps / hello_rps, 3),
        "failures": hello_fail + jobs_fail,
        "requests": REQUESTS,
        "concurrency": CONCURRENCY,
        "upload_bytes": len(image),
    }
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
    sys.exit(0)
