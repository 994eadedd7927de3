"""Request dependencies: database session and the authenticated principal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from imagestudio.db import new_read_session, new_session
from imagestudio.errors import Unauthorized
from imagestudio.tenants.service import Principal, tenant_service

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


def _authenticate(key: str) -> Principal:
    with new_read_session() as session:  # a lookup: it must not queue behind a writer on SQLite
        return tenant_service.authenticate(session, key=key)


async def authenticate(scheme: str, key: str) -> Principal:
    """The key's tenant: from this process's short cache on the event loop, else one query in a thread."""
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("Send your API key as `Authorization: Bearer <key>`")
    principal = tenant_service.remembered(key=key)
    if principal is None:
        principal = await run_in_threadpool(_authenticate, key)
    return principal


async def principal_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The request's tenant; a write was already authenticated by the route guard, before its body."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None:
        return principal
    if credentials is None:
        raise Unauthorized("Send your API key as `Authorization: Bearer <key>`")
    return await authenticate(credentials.scheme, credentials.credentials)


#: The bearer credentials, as a dependency: it declares the API-key security scheme in OpenAPI.
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def get_principal(request: Request, credentials: BearerDep) -> Principal:
    """The request's tenant; a write was already authenticated by the route guard, before its body."""
    return await principal_of(request, credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
