"""Every studio through the SDK, sync and async, against a real `imagestudio up`."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from sdk_service import Service

from imagestudio_client import (
    AsyncImageStudio,
    AuthenticationError,
    ConflictError,
    ImageStudio,
    ImageStudioError,
    JobProgress,
    NotFoundError,
    TransferProgress,
    ValidationError,
)


def test_every_studio_runs_through_the_sync_client(service: Service, tmp_path: Path) -> None:
    photo = service.photo()
    with ImageStudio(service.url, service.key) as client:
        uploaded: list[TransferProgress] = []
        social = client.social.optimize(
            photo, formats=["instagram.story", "x.header"], output_format="png", on_upload=uploaded.append
        )
        assert social.status in ("queued", "running", "succeeded")
        assert uploaded and uploaded[-1].done_bytes == photo.stat().st_size
        seen: list[JobProgress] = []
        done = social.wait(timeout=120, on_progress=seen.append)
        assert done.status == "succeeded", done.error
        assert seen[-1].status == "succeeded"
        files = done.download(tmp_path / "social")
        assert sorted(p.name for p in files) == ["all.zip", "instagram.story.png", "twitter.header.png"]
        assert Image.open(tmp_path / "social" / "instagram.story.png").size == (1080, 1920)

        upload = client.uploads.create(photo.read_bytes())  # bytes
        with photo.open("rb") as fh:
            edited = client.edit(fh, operation="remove_background", path="local")  # a file object
        upscaled = client.upscale(upload.id, mode="fast", path="local")  # an upload id
        created = client.create("a red bicycle in the rain", count=2)
        for job, outputs in ((edited, 1), (upscaled, 1), (created, 2)):
            finished = client.jobs.wait(job.id, timeout=120)
            assert finished.status == "succeeded", (finished.studio, finished.error)
            assert len([o for o in finished.outputs if o.kind == "image"]) == outputs
        big = client.jobs.get(upscaled.id).download(tmp_path / "upscale")[0]
        assert Image.open(big).size == (2560, 1920)


def test_every_studio_runs_through_the_async_client(service: Service, tmp_path: Path) -> None:
    photo = service.photo()

    async def run() -> None:
        async with AsyncImageStudio(service.url, service.key) as client:
            upload = await client.uploads.create(photo)
            jobs = await asyncio.gather(
                client.social.optimize(upload.id, formats=["linkedin.feed"], zip=False),
                client.edit(photo, operation="remove_background", path="local"),
                client.upscale(io.BytesIO(photo.read_bytes()), mode="fast", path="local"),
                client.create("a lighthouse at dusk"),
            )
            finished = await asyncio.gather(*(job.wait(timeout=120) for job in jobs))
            assert [job.status for job in finished] == ["succeeded"] * 4, [j.error for j in finished]
            assert [job.studio for job in finished] == ["social", "edit", "upscale", "create"]
            files = await finished[0].download(tmp_path / "async")
            assert [p.name for p in files] == ["linkedin.feed.jpg"]
            assert files[0].stat().st_size == finished[0].outputs[0].bytes
            events = [event.type async for event in client.jobs.stream(jobs[3].id)]
            assert events[0] == "job.queued" and events[-1] == "job.succeeded"
            # A second social job of this test's own, so one-job pages must be followed to a second page.
            second = await client.social.optimize(upload.id, formats=["linkedin.feed"], zip=False)
            listed = [job.id async for job in client.jobs.list(studio="social", page_size=1)]
            assert {jobs[0].id, second.id} <= set(listed) and len(listed) == len(set(listed))

    asyncio.run(run())


def test_control_sends_its_images_and_strengths_and_the_job_keeps_its_control_map(
    service: Service, tmp_path: Path
) -> None:
    photo = service.photo()
    with ImageStudio(service.url, service.key) as client:
        structure = client.control(photo, operation="structure", prompt="a glass house", control_strength=0.0)
        style = client.uploads.create(service.photo("style.png", width=512, height=512))
        transfer = client.control(
            client.uploads.create(photo).id,
            operation="style_transfer",
            style_image=style.id,
            style_strength=0.0,
        )
        finished = [client.jobs.wait(job.id, timeout=120) for job in (structure, transfer)]
        assert [job.status for job in finished] == ["succeeded"] * 2, [job.error for job in finished]
        assert [job.studio for job in finished] == ["control"] * 2
        assert finished[0].params["strengths"] == {"control_strength": 0.0}  # 0.0 sent as given
        assert finished[1].params["strengths"]["style_strength"] == 0.0
        assert sorted(o.name for o in finished[0].outputs) == ["control_map", "controlled"]
        assert [o.name for o in finished[1].outputs] == ["controlled"]  # style transfer has no map
        files = finished[0].download(tmp_path / "control")
        edges = next(p for p in files if p.stem == "control_map")
        assert Image.open(edges).size == (640, 480)
        with pytest.raises(ValidationError) as refused:
            client.control(photo, operation="structure", prompt="a glass house", control_strength=1.5)
        assert refused.value.status == 422 and refused.value.field == "control_strength"

    async def sketch() -> None:
        async with AsyncImageStudio(service.url, service.key) as client:
            job = await client.control(io.BytesIO(photo.read_bytes()), operation="sketch", prompt="a boat")
            done = await job.wait(timeout=120)
            assert done.status == "succeeded", done.error
            kinds = {o.name: o.metadata.get("kind") for o in done.outputs}
            assert kinds == {"controlled": None, "control_map": "line_art"}

    asyncio.run(sketch())


def test_list_iterates_every_page(service: Service) -> None:
    with ImageStudio(service.url, service.key) as client:
        upload = client.uploads.create(service.photo())
        batch = client.jobs.batch(
            [{"studio": "social", "params": {"image": upload.id, "formats": ["instagram.story"]}}] * 3
            + [{"studio": "social", "params": {"image": "upl_missing", "formats": ["instagram.story"]}}]
        )
        assert [entry.status for entry in batch] == [202, 202, 202, 422]
        assert isinstance(batch[3].error, ValidationError) and batch[3].error.field == "image"
        ids = [entry.job.id for entry in batch if entry.job]
        everything = [job.id for job in client.jobs.list(page_size=2)]
        assert set(ids) <= set(everything) and len(everything) == len(set(everything)) > 3


def test_problems_arrive_as_typed_errors_with_their_fields(service: Service) -> None:
    with ImageStudio(service.url, service.key) as client:
        with pytest.raises(ValidationError) as refused:
            client.social.optimize(service.photo(), formats=["nowhere.story"])
        assert refused.value.status == 422 and refused.value.field
        assert refused.value.type.endswith("/validation-failed") or refused.value.type.startswith("https://")
        assert refused.value.title and refused.value.detail
        with pytest.raises(NotFoundError) as missing:
            client.jobs.get("no-such-job")
        assert missing.value.status == 404
        done = client.social.optimize(service.photo(), formats=["x.header"]).wait(timeout=120)
        with pytest.raises(ConflictError):
            done.cancel()
    with ImageStudio(service.url, "isk_wrong") as stranger, pytest.raises(AuthenticationError):
        stranger.jobs.get("anything")


def test_the_client_reads_its_url_and_key_from_the_environment(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMAGESTUDIO_API_KEY", raising=False)
    monkeypatch.setenv("IMAGESTUDIO_URL", service.url)
    with pytest.raises(ImageStudioError, match="IMAGESTUDIO_API_KEY"):
        ImageStudio()
    monkeypatch.setenv("IMAGESTUDIO_API_KEY", service.key)
    with ImageStudio() as client:
        assert client.credits.get().available >= 0
        assert any(p["id"] == "instagram" for p in client.social.platforms())


def test_image_to_image_style_transfer_compress_and_convert_run_through_the_sync_client(
    service: Service, tmp_path: Path
) -> None:
    photo = service.photo()
    with ImageStudio(service.url, service.key) as client:
        upload = client.uploads.create(photo)
        uploaded: list[TransferProgress] = []
        jobs = {
            "by_id": client.create(
                "the same scene at night", init_image=upload.id, strength=0.0, provider="stability"
            ),
            "by_file": client.create(
                "the same scene in snow",
                init_image=photo,
                strength=0.4,
                count=2,
                provider="wavespeed",
                on_upload=uploaded.append,
            ),
            "transfer": client.control(
                upload.id, operation="style_transfer", style_image=photo.read_bytes(), style_strength=0.0
            ),
            "compress": client.compress(photo, format="jpeg", target_ssim=0.98),
            "convert": client.convert(upload.id, format="webp"),
        }
        assert uploaded and uploaded[-1].done_bytes == photo.stat().st_size  # init_image was uploaded
        done = {name: job.wait(timeout=120) for name, job in jobs.items()}
        for name, job in done.items():
            assert job.status == "succeeded", (name, job.error)

        by_id, by_file = done["by_id"].outputs, done["by_file"].outputs
        made_from = [(o.metadata["image_to_image"], o.metadata["strength"]) for o in by_id + by_file]
        assert made_from == [(True, 0.0), (True, 0.4), (True, 0.4)]  # an explicit 0.0 is kept
        assert [o.metadata["provider"] for o in by_id + by_file] == ["stability", "wavespeed", "wavespeed"]

        (styled,) = done["transfer"].outputs  # the style image, sent as bytes, was uploaded and named
        assert (styled.metadata["operation"], styled.metadata["served_by"]) == ("style_transfer", "stability")
        assert styled.metadata["strengths"]["style_strength"] == 0.0

        (small,) = done["compress"].outputs
        assert small.format == "jpeg" and small.metadata["ssim"] >= 0.98
        assert small.metadata["bytes_after"] == small.bytes and small.metadata["mode"] == "target_ssim"
        (webp,) = done["convert"].outputs
        assert done["convert"].studio == "compress"
        assert webp.format == "webp" and (webp.width, webp.height) == (640, 480)
        file = done["convert"].download(tmp_path / "convert")[0]
        assert Image.open(file).format == "WEBP"

        with pytest.raises(ValidationError) as refused:
            client.compress(upload.id, target_ssim=1.5)
        assert refused.value.field == "target_ssim"
        with pytest.raises(ValidationError) as refused:
            client.create("a kite", init_image=upload.id, strength=1.5)
        assert refused.value.field == "strength"

        operations = [operation["id"] for operation in client.catalogue("control")["operations"]]
        assert operations == ["sketch", "structure", "style", "style_transfer"]
        assert "target_ssim" in json.dumps(client.catalogue("compress"))
        with pytest.raises(ImageStudioError, match="no catalogue for 'social'"):
            client.catalogue("social")


def test_image_to_image_style_compress_and_convert_run_through_the_async_client(service: Service) -> None:
    photo = service.photo()

    async def run() -> None:
        async with AsyncImageStudio(service.url, service.key) as client:
            jobs = await asyncio.gather(
                client.create("a lighthouse in fog", init_image=photo, strength=0.5),
                client.control(photo, operation="style", prompt="a lighthouse", fidelity=0.0),
                client.compress(io.BytesIO(photo.read_bytes()), preset="web"),
                client.convert(photo, format="png"),
            )
            finished = await asyncio.gather(*(job.wait(timeout=120) for job in jobs))
            assert [job.status for job in finished] == ["succeeded"] * 4, [j.error for j in finished]
            assert [job.studio for job in finished] == ["create", "control", "compress", "compress"]
            assert [o.metadata["strengths"] for o in finished[1].outputs] == [{"fidelity": 0.0}]
            assert finished[2].outputs[0].metadata["preset"] == "web"
            assert finished[3].outputs[0].format == "png"
            modes = await client.catalogue("upscale")
            assert "fast" in json.dumps(modes)

    asyncio.run(run())


def test_image_urls_are_sent_as_they_are_and_the_worker_fetches_them(service: Service) -> None:
    """Every studio method takes a URL as it takes an upload id (sent as it is); sync and async alike."""
    photo = service.photo()
    host = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(photo.parent))
    )
    threading.Thread(target=host.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{host.server_address[1]}"
    try:
        with ImageStudio(service.url, service.key) as client:
            upscaled = client.upscale(f"{base}/{photo.name}", mode="fast", path="local").wait(timeout=120)
            assert upscaled.status == "succeeded", upscaled.error
            assert upscaled.params["image_urls"] == {"image": f"{base}/{photo.name}"}
            missing = client.compress(f"{base}/missing.png", quality=70).wait(timeout=120)
            assert missing.status == "failed" and missing.error is not None
            assert missing.error["type"].endswith("/remote-image-unreachable")
            assert missing.error["field"] == "image"

        async def run() -> None:
            async with AsyncImageStudio(service.url, service.key) as client:
                job = await client.convert(f"{base}/{photo.name}", format="webp")
                done = await job.wait(timeout=120)
                assert done.status == "succeeded", done.error
                assert done.outputs[0].format == "webp"

        asyncio.run(run())
    finally:
        host.shutdown()
        host.server_close()
