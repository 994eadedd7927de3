"""`imagestudio up` as a newcomer runs it: one process, SQLite, local folder, in-process workers."""

from __future__ import annotations

import io
import re
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
from PIL import Image
from support import imagestudio_cli, imagestudio_up, make_image, wait_for

API = "/api/image-studio"


def test_up_runs_a_social_job_end_to_end(tmp_path: Path) -> None:
    with imagestudio_up(tmp_path, data_dir=tmp_path / "data", COLUMNS="200") as (base, env):
        assert httpx.get(f"{base}/api/image-studio/health", timeout=5).status_code == 200
        banner = (tmp_path / "up.log").read_text()
        key = re.search(r"(isk_[A-Za-z0-9_-]+)", banner)
        assert key, banner
        assert "embedded mode" in banner and base in banner
        assert (tmp_path / "data" / "dev-api-key").read_text().strip() == key.group(1)
        headers = {"Authorization": f"Bearer {key.group(1)}"}

        response = httpx.post(
            f"{base}{API}/social/optimize",
            headers=headers,
            files={"image": ("photo.png", make_image(1200, 800), "image/png")},
            data={"platforms": "instagram,youtube", "output_format": "png"},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        job = wait_for(
            lambda: (
                (j := httpx.get(f"{base}{API}/jobs/{job_id}", headers=headers).json())["status"] != "queued"
                and j["status"] != "running"
                and j
            ),
            timeout=60,
            interval=0.2,
            what="the job to finish",
        )
        assert job["status"] == "succeeded", job
        sizes = {o["name"]: (o["width"], o["height"]) for o in job["outputs"] if o["kind"] == "image"}
        assert sizes == {
            "instagram.feed_square": (1080, 1080),
            "instagram.feed_portrait": (1080, 1350),
            "instagram.feed_landscape": (1080, 566),
            "instagram.story": (1080, 1920),
            "instagram.reel": (1080, 1920),
            "instagram.grid_preview": (1080, 1440),
            "youtube.thumbnail": (1280, 720),
            "youtube.channel_art": (2560, 1440),
        }
        for output in job["outputs"]:
            data = httpx.get(output["url"]).content  # local links are signed gateway URLs
            if output["kind"] == "image":
                assert Image.open(io.BytesIO(data)).size == sizes[output["name"]]
            else:
                assert len(zipfile.ZipFile(io.BytesIO(data)).namelist()) == len(sizes)
        # The objects really are in the local folder, under the tenant's prefix.
        assert len(list((tmp_path / "data" / "objects").rglob(f"*{job_id}/outputs/*"))) == len(sizes) + 1
        # The same job from the command line: progress bar, then every output downloaded.
        (tmp_path / "photo.png").write_bytes(make_image(900, 600))
        cli = subprocess.run(
            [
                str(Path(sys.executable).parent / "imagestudio"),
                "social",
                "optimize",
                "photo.png",
                "-p",
                "tiktok",
                "-f",
                "x.header",
                "--out",
                "out",
                "--url",
                base,
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert "100%" in cli.stdout and "files in out" in cli.stdout
        got = {p.name: Image.open(p).size for p in (tmp_path / "out").iterdir() if p.suffix == ".jpg"}
        assert got == {"tiktok.cover.jpg": (1080, 1920), "twitter.header.jpg": (1500, 500)}


def test_up_on_a_taken_port_says_so_before_any_banner_or_key(tmp_path: Path) -> None:
    with socket.socket() as holder:  # another process's server on the port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = imagestudio_cli("up", "--port", str(port), data_dir=tmp_path / "data")
    said = (result.stdout + result.stderr).strip()
    assert result.returncode == 1, said
    assert (
        said
        == f"127.0.0.1:{port} is already in use by another process; stop it, or choose another with --port"
    )
    assert "isk_" not in said and not (tmp_path / "data" / "dev-api-key").exists()


def test_up_in_production_prints_no_dev_key_and_makes_none(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    production = {
        "IMAGESTUDIO_ENVIRONMENT": "production",
        "IMAGESTUDIO_SECRETS_KEYS": Fernet.generate_key().decode(),
        "COLUMNS": "200",
    }
    with imagestudio_up(tmp_path, data_dir=tmp_path / "data", **production) as (base, _env):
        assert httpx.get(f"{base}/api/image-studio/health", timeout=5).status_code == 200
        banner = (tmp_path / "up.log").read_text()
    assert "embedded mode" in banner, banner
    assert "isk_" not in banner and "#key=" not in banner, banner
    assert not (tmp_path / "data" / "dev-api-key").exists()


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def test_up_cuts_off_a_client_trickling_its_headers(tmp_path: Path) -> None:
    """Slowloris: one header line every 0.2 s never ends the head; the server gives up after 1 s."""
    with imagestudio_up(
        tmp_path, data_dir=tmp_path / "data", IMAGESTUDIO_HTTP_HEADER_TIMEOUT_SECONDS="1"
    ) as (base, _env):
        with _connect(base) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.settimeout(0.2)  # the pace of the trickle: each recv waits this long for the server
            answer = b""
            for line in range(100):  # 20 s at most, 20 times the deadline
                try:
                    slow.sendall(b"X-Trickle-%d: x\r\n" % line)
                    chunk = slow.recv(4096)
                except TimeoutError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
                answer += chunk
                if not chunk:
                    break
            else:
                raise AssertionError("the server still read a head trickled for 20 s")
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        # A client sending its request at once is served as before, on a kept-alive connection too.
        with httpx.Client(base_url=base, timeout=5) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/healthz").status_code == 200


def test_up_answers_503_past_its_connection_limit(tmp_path: Path) -> None:
    with imagestudio_up(
        tmp_path,
        data_dir=tmp_path / "data",
        IMAGESTUDIO_HTTP_LIMIT_CONCURRENCY="3",
        IMAGESTUDIO_HTTP_HEADER_TIMEOUT_SECONDS="60",
    ) as (base, _env):
        with _connect(base), _connect(base):  # two idle connections held open
            refused = httpx.get(f"{base}/healthz", timeout=5)
            assert refused.status_code == 503, refused.text
        ok = wait_for(
            lambda: httpx.get(f"{base}/healthz", timeout=5).status_code == 200,
            timeout=30,
            interval=0.1,
            what="the held connections to be released",
        )
        assert ok
