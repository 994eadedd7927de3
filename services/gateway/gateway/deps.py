"""Request dependencies: database session and the authenticated principal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from imagestudio.db import new_session
from imagestudio.errors import Unauthorized
from imagestudio.tenants.service import Principal, tenant_service

_bearer = HTTPBearer(auto_error=False, description="An API key from `imagestudio keys create`")


def get_session() -> Iterator[Session]:
    session = new_session()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Send your API key as `Authorization: Bearer <key>`")
    principal = tenant_service.authenticate(session, key=credentials.credentials)
    session.rollback()  # end the read transaction; the route opens its own
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
