"""One submission path for every studio route: draft the job from the studio's request, submit it, answer.

A studio route is its path, its docstring and one call, built for every studio from the registry
(``routes/studios.py``, from the face's ``ROUTE``)::

    async def submit(submission: SubmissionDep, body: body_type) -> JobRead | Response:
        return await submission.submit(studio, body)

The route is async and its database work is one call in a thread lent to submissions
(``gateway_submit_threads`` at once): a sync route costs FastAPI a thread hop for the endpoint and
another to validate its ``response_model``, a measurable share of the gateway's CPU per
submission. The 202 is rendered once from the ``JobRead`` just built; the route's two
dependencies are solved by ``direct_handler``, not by FastAPI's generic solver.

:func:`draft` is the same for every studio (the batch route drafts its entries with it): the
per-job webhook, the studio's cheap ``check``, the images read or resolved, the memory model's
admission (from their headers, :mod:`imagestudio.studios.memory`), then ``prepare``;
every refusal is raised before anything is stored or queued.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import unquote, urlsplit

from fastapi import Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.orm import Session

from gateway.admission import Admission, admit, in_submit_thread
from gateway.deps import BearerDep, principal_of
from gateway.problems import SUBMIT_RESPONSES
from gateway.studio_options import PreferHeader, Wait, answer, close_wait, open_wait
from gateway.studio_requests import StudioBody, request_body_openapi
from gateway.uploads import image_urls, job_inputs, studio_images
from imagestudio.config import get_settings
from imagestudio.db import AsyncConnections, CacheOnlySession, NeedsDatabase, new_session, utcnow
from imagestudio.jobs.schemas import JobRead
from imagestudio.jobs.service import JobDraft, Upload, job_service
from imagestudio.storage import clean_filename
from imagestudio.studios import memory
from imagestudio.studios.common import url_inputs
from imagestudio.studios.common.base import Studio
from imagestudio.studios.common.request import StoredImage, StudioRequest
from imagestudio.urls import job_path
from imagestudio.webhooks.service import webhook_service

R = TypeVar("R", bound=StudioRequest)


def draft(session: Session, *, tenant_id: str, studio: Studio[R], body: StudioBody[R]) -> JobDraft:
    """The job a studio request makes; every refusal is raised before anything is stored."""
    request = body.request
    webhook = webhook_service.endpoints.job_webhook(url=request.webhook_url, events=request.webhook_events)
    urls = image_urls(request)  # the worker fetches them; only their form is checked here
    studio.check(
        request, files=frozenset({*body.files, *request.upload_ids(), *urls})
    )  # before any image is read
    images = studio_images(session, tenant_id=tenant_id, request=request, files=body.files)
    # From the headers: a job no worker has the memory for is refused before the studio looks at pixels.
    memory.admit(request, {name: info for name, (_, info) in images.items()}, get_settings())
    if urls:  # images by URL: held at the worst case, prepared by the worker from their headers
        uploads, inputs = job_inputs(image for image, _ in images.values())
        params, cost = url_inputs.unprepared(
            session, tenant_id=tenant_id, studio=studio, request=request, urls=urls
        )
        provider, batch = None, None  # the worker checks the plan once prepare has named them
    else:
        prepared = studio.prepare(session, tenant_id=tenant_id, request=request, images=images)
        uploads, inputs = job_inputs(prepared.images)
        params, cost = prepared.params.model_dump(mode="json"), prepared.cost
        provider, batch = prepared.provider, prepared.batch
    inputs_named = {*inputs, *(upload.field for upload in uploads)}  # the worker holds each to its header
    inputs.update(urls)
    return JobDraft(
        studio=studio.name,
        params=params,
        uploads=uploads,
        inputs=inputs,
        sizes={name: (info.width, info.height) for name, (_, info) in images.items() if name in inputs_named},
        cost=cost,
        provider=provider,
        batch=batch,
        webhook=webhook,
        start_deadline=request.start_by(utcnow()),
        priority=request.priority,
        output_retention_seconds=request.output_retention_seconds,
        source_names=source_names(images, urls),
    )


def source_names(
    images: Mapping[str, tuple[Upload | StoredImage, Any]], urls: Mapping[str, str]
) -> dict[str, str]:
    """The client's file name of each image: a form file's or an upload's, else a URL's last path part."""
    names = {name: image.filename for name, (image, _) in images.items() if image.filename}
    for name, url in urls.items():
        named = clean_filename(unquote(urlsplit(url).path.rsplit("/", 1)[-1]))
        if named and name not in names:
            names[name] = named
    return names


class RequestSession:
    """The request's session, made on first use: the submission on the event loop needs none."""

    __slots__ = ("_session",)

    def __init__(self) -> None:
        self._session: Session | None = None

    def __call__(self) -> Session:
        if self._session is None:
            self._session = new_session()
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


class _CacheOnlySessions:
    """``CacheOnlySession``s for the loop's submissions, one request's each while it runs.

    Making a SQLAlchemy session costs ~15 µs, a share of the gateway's CPU per submission; one
    taken back untouched (no object, no transaction: the caches answered everything) is as good
    as new. One that was touched, or a request's that raised, is dropped as before.
    """

    #: Sessions kept idle at most: the loop's submissions in flight at once, with room.
    KEEP = 64

    def __init__(self) -> None:
        self._idle: list[CacheOnlySession] = []

    def take(self) -> CacheOnlySession:
        return self._idle.pop() if self._idle else CacheOnlySession()

    def give_back(self, session: CacheOnlySession) -> None:
        # ``_new``/``_deleted`` are the dicts ``new``/``deleted`` copy into a set on every read.
        untouched = not (
            session.identity_map
            or session._new
            or session._deleted
            or session.info
            or session.in_transaction()
        )
        if untouched and len(self._idle) < self.KEEP:
            self._idle.append(session)


_cache_only_sessions = _CacheOnlySessions()


@dataclass(frozen=True)
class Submission:
    """What a studio route needs besides its body: the request, the session, admission and ``Prefer: wait``."""

    request: Request
    response: Response
    sessions: RequestSession
    admission: Admission
    wait: Wait | None

    @property
    def session(self) -> Session:
        return self.sessions()

    async def submit(self, studio: Studio[R], body: StudioBody[R]) -> Response:
        """202 with the queued job (200 with it finished under ``Prefer: wait``), or the replayed answer."""
        if (replay := self.admission.replayed()) is not None:
            return replay
        connections = getattr(self.request.app.state, "submit_connections", None)
        if (
            connections is not None
            and self.admission.claim is None
            and self.wait is None
            and not body.files
            and not body.request.webhook_url
            and not body.request.image_urls()
        ):
            accepted = await self._submit_on_loop(connections, studio, body)
            if accepted is not None:
                return accepted
        return await in_submit_thread(self.request, self._submit, studio, body)

    async def _submit_on_loop(
        self, connections: AsyncConnections, studio: Studio[R], body: StudioBody[R]
    ) -> Response | None:
        """``submit`` on the event loop, for a body naming its images by upload id and no key or wait.

        The draft and the plan are answered from this process's caches (a ``CacheOnlySession``
        refuses to query), the job committed by one pipelined statement on an async connection;
        None when a step needed the database or the account refused (nothing was written): the
        caller then submits in a worker thread as before, which answers the refusal.
        """
        tenant_id = self.admission.tenant_id
        cached = _cache_only_sessions.take()
        try:
            job = await job_service.submit_on_loop(
                connections,
                cached,
                tenant_id=tenant_id,
                draft=draft(cached, tenant_id=tenant_id, studio=studio, body=body),
                notifier=self.request.app.state.submit_notifier,
            )
        except NeedsDatabase:
            return None
        _cache_only_sessions.give_back(cached)
        if job is None:
            return None
        # ``admission.accept`` and ``rendered`` of ``to_read``'s answer, without building it: the same bytes.
        self.admission.locate(self.response, job_path(job.id))
        return json_response(job_service.queued_body(job), status_code=202, headers_from=self.response)

    def _submit(self, studio: Studio[R], body: StudioBody[R]) -> Response:
        """The database and storage part of ``submit``, in one worker thread."""
        admission, session = self.admission, self.session
        job = job_service.submit_draft(
            session,
            tenant_id=admission.tenant_id,
            draft=draft(session, tenant_id=admission.tenant_id, studio=studio, body=body),
            idempotency=admission.claim,
        )
        accepted = admission.accept(self.response, job_service.to_read(session, [job])[0])
        answered = answer(
            self.request, self.response, session, accepted, tenant_id=admission.tenant_id, wait=self.wait
        )
        if isinstance(answered, Response):
            return answered
        return rendered(answered, status_code=202, headers_from=self.response)


def rendered(body: JobRead, *, status_code: int, headers_from: Response) -> Response:
    """The response FastAPI renders from ``response_model=JobRead`` and the route's ``Response``
    parameter, without validating again the model that was just built."""
    return json_response(
        body.model_dump_json(by_alias=True), status_code=status_code, headers_from=headers_from
    )


def json_response(content: str | bytes, *, status_code: int, headers_from: Response) -> Response:
    """A JSON answer already rendered, with the headers the route set on its ``Response`` parameter."""
    response = Response(content, status_code=status_code, media_type="application/json")
    response.headers.raw.extend(headers_from.headers.raw)
    return response


async def _submission(
    request: Request, response: Response, credentials: BearerDep, prefer: PreferHeader = None
) -> AsyncIterator[Submission]:
    """Key, session, admission and ``Prefer: wait`` in one dependency, in that order.

    One layer rather than one each: FastAPI solves every dependency of every request, a
    measurable share of the gateway's CPU per submission. It declares the bearer scheme and the
    ``Prefer`` header as the separate ones did, so the OpenAPI document is the same.
    """
    principal = await principal_of(request, credentials)
    sessions = RequestSession()
    try:
        admission = await admit(request, principal, sessions)
        wait = open_wait(request, principal, prefer)
        try:
            yield Submission(request, response, sessions, admission, wait)
        finally:
            close_wait(wait)
    finally:
        sessions.close()


#: The dependency studio routes take (the route guard recognises submissions by it).
submission_dependency = _submission
SubmissionDep = Annotated[Submission, Depends(_submission)]

_enter_submission = asynccontextmanager(_submission)


@dataclass(frozen=True)
class StudioHandler:
    """A studio route's endpoint and body dependency, called without FastAPI's dependency solving.

    Every studio route is ``(submission: SubmissionDep, body: <a studio_body>)`` and returns the
    ``Response`` that ``Submission.submit`` renders. FastAPI's generic dependency solving for
    those two (the bearer scheme, the ``Prefer`` header, the response and the body, each through
    its machinery) was an eighth of the gateway's CPU per submission; :meth:`answer` does the same
    calls in the same order (key, session and admission, then the body; both closed after the
    route). Routing, exception handling and the OpenAPI document stay FastAPI's.
    """

    endpoint: Callable[..., Awaitable[Any]]
    body: Callable[[Request], AbstractAsyncContextManager[Any]]

    @classmethod
    def of(cls, dependant: Dependant, endpoint: Callable[..., Awaitable[Any]]) -> StudioHandler | None:
        """The handler of a studio route; None for any other route."""
        deps = dependant.dependencies
        if [d.name for d in deps] != ["submission", "body"] or deps[0].call is not _submission:
            return None
        if deps[1].call is None:
            return None
        return cls(endpoint, asynccontextmanager(deps[1].call))

    async def answer(self, request: Request, credentials: HTTPAuthorizationCredentials | None) -> Response:
        """The route's response to ``request`` (its key already checked by the route guard)."""
        headers = Response()  # what FastAPI gives a route's ``response`` parameter:
        del headers.headers["content-length"]  # headers only, no length of its own
        headers.status_code = None  # type: ignore[assignment]
        async with _enter_submission(
            request, headers, credentials, request.headers.get("prefer")
        ) as submission:
            async with self.body(request) as body:
                answered = await self.endpoint(submission=submission, body=body)
        assert isinstance(answered, Response), "a studio route answers with Submission.submit's Response"
        return answered


def direct_handler(
    dependant: Dependant, endpoint: Callable[..., Awaitable[Any]]
) -> Callable[[Request], Awaitable[Response]] | None:
    """A studio route's handler that solves its two dependencies itself (``StudioHandler``); None
    for any other route."""
    studio = StudioHandler.of(dependant, endpoint)
    if studio is None:
        return None
    [bearer] = [d.call for d in dependant.dependencies[0].dependencies]
    if bearer is None:
        return None

    async def handle(request: Request) -> Response:
        return await studio.answer(request, await bearer(request))

    return handle


def studio_route(studio: Studio[Any], *, form: bool = True) -> dict[str, Any]:
    """``router.post`` options of a studio route: 202 with the job, the submit problems, and both bodies.

    ``form=False`` for a JSON-only route whose body FastAPI declares itself.
    """
    options: dict[str, Any] = {"status_code": 202, "response_model": JobRead, "responses": SUBMIT_RESPONSES}
    if form:
        options["openapi_extra"] = request_body_openapi(studio.Request)
    return options
