"""Request dependencies as ``Annotated`` aliases, so handlers read like prose."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from copilot.core.errors import Unauthorized
from copilot.crm.principal import Principal
from copilot.service.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="a token from `crm-copilot token USERNAME`")


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    from copilot.store.tokens import authenticate

    if credentials is None or not credentials.credentials:
        raise Unauthorized("a bearer token is required (crm-copilot token USERNAME)")
    return authenticate(session, credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
