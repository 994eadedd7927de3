"""Request dependencies: database session and the authenticated principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from imagestudio.db import new_read_session, new_session
from imagestudio.errors import Unauthorized
from imagestudio.ratelimits.service import rate_limit_service
from imagestudio.telemetry.logging import get_logger
from imagestudio.tenants.service import Principal, tenant_service

log = get_logger(__name__)

_bearer = HTTPBearer(auto_error=False, description="An API key from `imagestudio keys create`")


async def get_session() -> AsyncIterator[Session]:
    """A session for the request; no I/O here (a connection is checked out on first use).

    Async on purpose: a sync dependency costs two thread-pool hops per request. Closing returns the
    connection to the pool; after the route's commit or rollback that sends nothing.
    """
    session = new_session()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


async def get_read_session() -> AsyncIterator[Session]:
    """A session for a route that only reads: on SQLite it neither takes nor waits for the write lock."""
    session = new_read_session()
    try:
        yield session
    finally:
        session.close()


ReadSessionDep = Annotated[Session, Depends(get_read_session)]


def client_address(request: Request) -> str:
    """The client's address as the server saw it (behind a proxy: see ``FORWARDED_ALLOW_IPS``)."""
    return request.client.host if request.client else "unknown"


def _authenticate(key: str, address: str) -> Principal:
    # An address over its failed-authentication budget learns nothing about the key it sends.
    rate_limit_service.refuse_failed_auth(address=address)
    try:
        with new_read_session() as session:  # a lookup: it must not queue behind a writer on SQLite
            return tenant_service.authenticate(session, key=key)
    except Unauthorized:
        rate_limit_service.count_failed_auth(address=address)  # 429 once it is one too many
        raise


async def authenticate(scheme: str, key: str, *, address: str) -> Principal:
    """The key's tenant: from this process's short cache on the event loop, else one query in a thread.

    A key this process saw valid moments ago is answered from memory, whatever the address's
    count of failed attempts; any other key counts against it when refused (``address``).
    """
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("Send your API key as `Authorization: Bearer <key>`")
    principal = tenant_service.remembered(key=key)
    if principal is None:
        principal = await run_in_threadpool(_authenticate, key, address)
    return principal


#: A re-check of a request's API key; raises ``Unauthorized`` once the key is no longer accepted.
KeyCheck = Callable[[], Awaitable[None]]


def key_check(request: Request) -> KeyCheck:
    """The re-check a stream or a wait runs every ``stream_key_check_seconds`` on the request's key.

    Through the same cache as every request: a key revoked in this process fails at once, one
    revoked elsewhere (``imagestudio keys revoke``) within ``auth_cache_seconds``. Anything but a
    refused key (the database or the limiter away) leaves the stream running until the next check.
    """
    scheme, key = get_authorization_scheme_param(request.headers.get("authorization"))
    address = client_address(request)

    async def check() -> None:
        try:
            await authenticate(scheme, key, address=address)
        except Unauthorized:
            raise
        except Exception as exc:
            log.warning("auth.recheck_failed", error=repr(exc))

    return check


async def principal_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The request's tenant; a write was already authenticated by the route guard, before its body."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None:
        return principal
    if credentials is None:
        raise Unauthorized("Send your API key as `Authorization: Bearer <key>`")
    return await authenticate(credentials.scheme, credentials.credentials, address=client_address(request))


#: The bearer credentials, as a dependency: it declares the API-key security scheme in OpenAPI.
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def get_principal(request: Request, credentials: BearerDep) -> Principal:
    """The request's tenant; a write was already authenticated by the route guard, before its body."""
    return await principal_of(request, credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
