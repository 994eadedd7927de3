"""The SDK beyond jobs against a real `imagestudio up`: webhook endpoints, templates, personas,
providers, asset writes, ``run`` (sync and async) and the poll interval."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sdk_service import Service
from test_sdk_resilience import FaultyNetwork

from imagestudio_client import (
    AsyncImageStudio,
    ImageStudio,
    ImageStudioError,
    JobFailedError,
    JobProgress,
    NotFoundError,
    WebhookEvent,
    webhooks,
)
from imagestudio_client import _sync as sync_client


class Receiver:
    """A loopback webhook receiver: every delivery's body and headers, and a wake-up per arrival."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver.arrived:
                    receiver.received.append((body, dict(self.headers.items())))
                    receiver.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self, secret: str, count: int, timeout: float = 120.0) -> list[WebhookEvent]:
        """The first ``count`` deliveries, verified with ``secret`` (waiting for them to arrive)."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return [webhooks.verify(body, headers, secret) for body, headers in self.received[:count]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
    thread.start()
    yield hook
    hook.server.shutdown()


def test_webhook_endpoints_deliver_redeliver_rotate_and_disable(service: Service, receiver: Receiver) -> None:
    with ImageStudio(service.url, service.key) as client:
        endpoint = client.webhooks.create_endpoint(
            receiver.url, event_types=["job.succeeded"], description="sdk"
        )
        assert endpoint.secret and endpoint.secret.startswith("whsec_") and endpoint.enabled
        assert endpoint.id in [listed.id for listed in client.webhooks.list_endpoints()]
        job = client.compress(service.photo(), quality=60).wait(timeout=120)
        (event,) = receiver.events(endpoint.secret, 1)
        assert (event.type, event.data.id) == ("job.succeeded", job.id)
        assert [output.name for output in event.data.outputs] == [output.name for output in job.outputs]

        deliveries = list(client.webhooks.deliveries(job_id=job.id, endpoint_id=endpoint.id))
        for _ in range(100):  # recorded as sent a moment after the receiver answered
            if [d.status for d in deliveries] == ["succeeded"]:
                break
            deliveries = list(client.webhooks.deliveries(job_id=job.id, endpoint_id=endpoint.id))
        assert [d.status for d in deliveries] == ["succeeded"]
        assert client.webhooks.redeliver(deliveries[0].id).id == deliveries[0].id
        first, again = receiver.events(endpoint.secret, 2)
        assert again.data.id == first.data.id
        assert receiver.received[0][1]["webhook-id"] == receiver.received[1][1]["webhook-id"]

        rotated = client.webhooks.rotate_endpoint_secret(endpoint.id, grace_seconds=0)
        assert rotated.secret and rotated.secret != endpoint.secret
        assert client.webhooks.disable_endpoint(endpoint.id).enabled is False
        assert client.webhooks.get_endpoint(endpoint.id).enabled is False
        client.webhooks.delete_endpoint(endpoint.id)
        with pytest.raises(NotFoundError):
            client.webhooks.get_endpoint(endpoint.id)


def test_the_signing_secret_is_shown_once_then_none_unless_rotated(service: Service) -> None:
    with ImageStudio(service.url, service.key) as client:
        client.webhooks.signing_secret()  # shown now, or by an earlier test
        assert client.webhooks.signing_secret() is None
        fresh = client.webhooks.signing_secret(rotate_if_shown=True)
        assert fresh and fresh.startswith("whsec_")
        assert client.webhooks.rotate_signing_secret(grace_seconds=0) != fresh


def test_templates_personas_and_providers(service: Service) -> None:
    with ImageStudio(service.url, service.key) as client:
        templates = client.templates.list()["templates"]
        assert templates
        first = client.templates.get(templates[0]["id"])
        assert first["id"] == templates[0]["id"]
        word = first["name"].split()[0]
        assert first["id"] in [t["id"] for t in client.templates.search(word)["results"]]

        persona = client.personas.create("Harbour Coffee", tone="warm, unhurried", palette=["#1b3a4b"])
        assert client.personas.update(persona.id, tone="brisk").tone == "brisk"
        assert persona.id in [p.id for p in client.personas.list()]
        job = client.create("a cup on a pier", persona_id=persona.id).wait(timeout=120)
        assert job.status == "succeeded", job.error
        client.personas.delete(persona.id)
        with pytest.raises(NotFoundError):
            client.personas.get(persona.id)

        providers = client.providers(kind="upscale")["providers"]
        assert providers and all("name" in p for p in providers)


def test_asset_writes_favourite_tag_bulk_and_delete(service: Service) -> None:
    with ImageStudio(service.url, service.key) as client:
        job = client.create("three kites", count=3).wait(timeout=120)
        assert job.status == "succeeded", job.error
        assets = [a for a in client.assets.list(q="three kites") if a.job_id == job.id]
        assert len(assets) == 3
        one, two, three = (a.id for a in assets)
        assert client.assets.favorite(one).favorite is True
        assert client.assets.favorite(one, False).favorite is False
        assert client.assets.tag(two, ["spring", "kites"]).tags == ["spring", "kites"]
        answer = client.assets.bulk("tag", [one, three], tags=["batch"])
        assert len(answer["results"]) == 2, answer
        assert {a.id for a in client.assets.list(tag="batch")} >= {one, three}
        client.assets.delete(three)
        with pytest.raises(NotFoundError):
            client.assets.get(three)


def test_run_answers_the_outputs_or_raises_when_the_job_does_not_succeed(service: Service) -> None:
    photo = service.photo()
    with ImageStudio(service.url, service.key) as client:
        outputs = client.run("convert", photo, format="webp")
        assert [(o.format, o.width, o.height) for o in outputs] == [("webp", 640, 480)]
        social = client.run("social", photo, formats=["instagram.story"], zip=False)
        assert [(o.width, o.height) for o in social] == [(1080, 1920)]
        with pytest.raises(ImageStudioError):
            client.run("compress", photo, target_ssim=2.0)  # refused before any job

        canceled: list[str] = []

        def cancel_once(progress: JobProgress) -> None:
            if not canceled:
                job_id = progress.job_id
                canceled.append(job_id)
                try:
                    client.jobs.cancel(job_id)
                except ImageStudioError:
                    canceled.append("too late")

        try:
            client.run("create", "a slow lighthouse", count=4, on_progress=cancel_once)
        except JobFailedError as failed:
            assert (failed.job_id, failed.status) == (canceled[0], "canceled")
        else:
            assert canceled[-1] == "too late"  # it ended before the cancel arrived: outputs answered

    async def run() -> None:
        async with AsyncImageStudio(service.url, service.key) as client:
            created = await client.run("create", "a lighthouse at dusk", count=2)
            assert len(created) == 2 and all(o.kind == "image" for o in created)

    asyncio.run(run())


def test_wait_polls_at_the_clients_poll_interval(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    real_sleep = sync_client.sleep

    def recorded(seconds: float) -> None:
        pauses.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(sync_client, "sleep", recorded)
    network = FaultyNetwork()
    network.refuse_streams = True  # so wait polls
    with ImageStudio(service.url, service.key, transport=network, poll_interval=0.05) as client:
        job = client.create("a kite over the sea", count=2)
        assert job.wait(timeout=120).status == "succeeded"
        slow = client.compress(service.photo(), quality=40).wait(timeout=120, poll_interval=0.07)
        assert slow.status == "succeeded"
    assert pauses and set(pauses) <= {0.05, 0.07}, pauses
    with pytest.raises(ImageStudioError, match="poll_interval"):
        ImageStudio(service.url, service.key, poll_interval=0)
