"""Images by URL on real services: gateway (PostgreSQL) → outbox → RabbitMQ → compress worker → S3.

The image host is a loopback HTTP server in this process (``REMOTE_IMAGE_ALLOW_LOOPBACK`` for the
gateway and the worker); a refused address is reached only as a redirect's target.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from minio import Minio
from support import S3_PORT, make_image

from integration.conftest import Stack
from integration.test_compress_distributed import wait_finished

pytestmark = [
    pytest.mark.integration,
    pytest.mark.gateway_env(IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK="true"),
]

API = "/api/image-studio"


class _Host(SimpleHTTPRequestHandler):
    """Files of a folder, and ``/to-private``: a redirect to an address the egress guard refuses."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        if self.path == "/to-private":
            self.send_response(302)
            self.send_header("Location", "http://10.0.0.1/photo.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def host(tmp_path: Path) -> Iterator[str]:
    """The base URL of a loopback server holding ``photo.png`` (640x480)."""
    folder = tmp_path / "host"
    folder.mkdir()
    (folder / "photo.png").write_bytes(make_image(640, 480))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Host, directory=str(folder)))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def submit(stack: Stack, route: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{stack.base_url}{API}/{route}", headers=stack.headers(), json=body, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def test_url_jobs_run_on_a_distributed_worker_and_failures_release_their_hold(
    stack: Stack, host: str
) -> None:
    worker = stack.worker("compress", IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK="true")
    photo = f"{host}/photo.png"
    compressed = submit(stack, "compress", {"image": photo, "format": "webp", "quality": 70})
    converted = submit(stack, "convert", {"image": photo, "format": "jpeg"})
    refused = submit(stack, "compress", {"image": f"{host}/to-private", "quality": 70})
    unreachable = submit(stack, "convert", {"image": f"{host}/missing.png", "format": "webp"})

    for job, fmt in ((compressed, "webp"), (converted, "jpeg")):
        done = wait_finished(stack, job["id"])
        assert done["status"] == "succeeded", (done, worker.output())
        assert done["params"]["image_urls"] == {"image": photo}
        [output] = done["outputs"]
        assert (output["format"], output["width"], output["height"]) == (fmt, 640, 480)
    for job, problem in ((refused, "remote-image-refused"), (unreachable, "remote-image-unreachable")):
        failed = wait_finished(stack, job["id"])
        assert failed["status"] == "failed", failed
        assert failed["error"]["type"].endswith(f"/{problem}") and failed["error"]["field"] == "image"
    credits = httpx.get(f"{stack.base_url}{API}/credits", headers=stack.headers(), timeout=10).json()
    assert credits["reserved"] == 0
    # The fetched image is the job's input in S3, like an upload's.
    s3 = Minio(
        f"127.0.0.1:{S3_PORT}", access_key="testing", secret_key="testing", secure=False, region="us-east-1"
    )
    keys = [o.object_name for o in s3.list_objects(stack.services.bucket, prefix="tenants/", recursive=True)]
    assert any(key.endswith(f"/jobs/{compressed['id']}/inputs/image.png") for key in keys)
