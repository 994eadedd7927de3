"""A loopback HTTP server for image-URL tests: an image, redirects, refused targets, slow and huge bodies.

Every URL is on loopback (allowed by ``IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK``); addresses the
egress guard refuses are reached only as a redirect's target, so nothing leaves the machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support import make_image

#: The byte limit of these tests: the served photo fits, the huge body does not.
MAX_BYTES = 400_000
PHOTO = make_image(320, 240)
assert len(PHOTO) < MAX_BYTES


class ImageServer(BaseHTTPRequestHandler):
    """The paths the tests fetch; each answer bounded in size and time."""

    #: Images a test serves under ``/served/<name>``.
    served: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        if self.path.startswith("/served/"):
            self._send(200, self.served[self.path.removeprefix("/served/")], "image/png")
        elif self.path == "/photo.png":
            self._send(200, PHOTO, "image/png")
        elif self.path == "/loop":
            self._redirect("/loop")
        elif self.path == "/moved":
            self._redirect("/photo.png")
        elif self.path == "/to-private":
            self._redirect("http://10.0.0.1/photo.png")
        elif self.path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif self.path == "/text":
            self._send(200, b"<html>not an image</html>", "text/html")
        elif self.path == "/missing":
            self._send(404, b"gone", "text/plain")
        elif self.path == "/huge":
            self.send_response(200)  # no length declared: the cap must hold while reading
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self._write(PHOTO[:64] + bytes(MAX_BYTES * 2))
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PHOTO)))
            self.end_headers()
            for index in range(100):  # a byte every 0.1 s, for 10 s at most
                if not self._write(PHOTO[index : index + 1]):
                    return
                time.sleep(0.1)
        else:
            self._send(404, b"", "text/plain")

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._write(body)

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the worker hung up (a cap reached): expected
            return False
        return True

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def serving_images() -> Iterator[str]:
    """The base URL of a loopback server answering ``ImageServer``'s paths, stopped on the way out."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ImageServer)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
