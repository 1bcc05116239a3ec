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
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    from copilot.store.tokens import authenticate, hash_token

    if credentials is None or not credentials.credentials:
        raise Unauthorized("a bearer token is required (crm-copilot token USERNAME)")
    principal = authenticate(session, credentials.credentials)
    # Counted per token once it is known to be valid: a stranger cannot spend a user's budget.
    rate_limit = getattr(request.app.state, "rate_limit", None)
    if rate_limit is not None:
        rate_limit.hit(hash_token(credentials.credentials.strip()))
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
