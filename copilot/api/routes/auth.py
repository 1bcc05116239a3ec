"""Sign-in for the web app (``/v1/auth/login``) and for a widget inside a host CRM (``/v1/auth/exchange``).

Both hand out an ordinary, short-lived bearer token (copilot/store/tokens.py), so every other route sees
one kind of caller. The login is a demo's: every active user has the one ``DEMO_PASSWORD`` (empty turns
it off); a real deployment signs its users in itself and proves who they are with a signed assertion:
an HS256 JWT over ``EMBED_SECRET`` whose ``sub`` is the username and whose ``exp`` is at most
``EMBED_MAX_ASSERTION_S`` (10 minutes) away, exchanged once for a copilot token of ``EMBED_TOKEN_TTL``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import time
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from copilot.api.deps import PrincipalDep, RuntimeDep, SessionDep
from copilot.core.errors import Forbidden, Unauthorized
from copilot.crm.models import User
from copilot.crm.principal import Principal
from copilot.store.tokens import issue_token, parse_ttl, utcnow

router = APIRouter(prefix="/v1/auth", tags=["auth"])
# Clock difference allowed between the host CRM and us when reading ``exp``/``iat``/``nbf``.
LEEWAY_S = 5


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[str, Field(min_length=1, max_length=80)]
    password: Annotated[str, Field(min_length=1, max_length=200)]


class ExchangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assertion: Annotated[str, Field(min_length=1, max_length=4096, description="the host CRM's HS256 JWT")]


class UserInfo(BaseModel):
    username: str
    display_name: str
    roles: list[str]
    locale: str
    partner: bool


class TokenResponse(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_at: str = Field(description="UTC, ISO 8601")
    expires_in: int = Field(description="seconds")
    user: UserInfo


def user_info(principal: Principal) -> UserInfo:
    return UserInfo(
        username=principal.username,
        display_name=principal.display_name or principal.username,
        roles=sorted(principal.roles),
        locale=principal.locale,
        partner=principal.is_partner,
    )


def _issue(session: Any, username: str, ttl_text: str) -> TokenResponse:
    from copilot.crm.principal import load_principal

    ttl = parse_ttl(ttl_text) or dt.timedelta(hours=8)  # a sign-in token always expires
    token = issue_token(session, username, ttl)
    principal = load_principal(session, username)
    session.commit()
    expires = utcnow() + ttl
    return TokenResponse(
        token=token,
        expires_at=expires.replace(microsecond=0).isoformat() + "Z",
        expires_in=int(ttl.total_seconds()),
        user=user_info(principal),
    )


def _throttle(request: Request, *keys: str) -> None:
    """The per-token limit (RATE_LIMIT) counted here per username and per client address: no token yet."""
    limit = getattr(request.app.state, "rate_limit", None)
    if limit is None:
        return
    for key in keys:
        limit.hit(key)


@router.post("/login", response_model=TokenResponse)
def login(body: LoginRequest, request: Request, session: SessionDep, runtime: RuntimeDep) -> TokenResponse:
    """A sign-in token for the web app. Demo users' password: ``demo`` (setting ``DEMO_PASSWORD``)."""
    client = request.client.host if request.client else "unknown"
    _throttle(request, f"login-user:{body.username.lower()}", f"login-addr:{client}")
    secret = runtime.settings.demo_password.get_secret_value() if runtime.settings.demo_password else ""
    if not secret:
        raise Forbidden("password sign-in is turned off here (DEMO_PASSWORD is empty)", code="login_disabled")
    user = session.scalar(select(User).where(User.username == body.username, User.is_active.is_(True)))
    # One answer for an unknown user and a wrong password, compared in constant time.
    matches = hmac.compare_digest(body.password.encode("utf-8"), secret.encode("utf-8"))
    if user is None or not matches:
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    return _issue(session, user.username, runtime.settings.session_ttl)


@router.post("/exchange", response_model=TokenResponse)
def exchange(body: ExchangeRequest, request: Request, session: SessionDep, runtime: RuntimeDep) -> TokenResponse:
    """A host CRM's signed assertion of its user (HS256 JWT over ``EMBED_SECRET``: ``sub`` = username,
    ``exp`` at most 10 minutes ahead) → a short-lived copilot token for the embedded widget."""
    client = request.client.host if request.client else "unknown"
    _throttle(request, f"exchange-addr:{client}")
    settings = runtime.settings
    secret = settings.embed_secret.get_secret_value() if settings.embed_secret else ""
    if not secret:
        raise Forbidden("assertion exchange is not configured here (EMBED_SECRET is empty)", code="exchange_disabled")
    claims = verify_assertion(body.assertion, secret, settings.embed_max_assertion_s)
    username = str(claims["sub"])
    if session.scalar(select(User.id).where(User.username == username, User.is_active.is_(True))) is None:
        raise Unauthorized("the assertion names no active user", code="unknown_user")
    return _issue(session, username, settings.embed_token_ttl)


def verify_assertion(assertion: str, secret: str, max_life_s: int) -> dict[str, Any]:
    """The claims of a valid assertion; Unauthorized (401) naming what is wrong otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}, leeway=LEEWAY_S
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the assertion has expired", code="assertion_expired") from None
    except jwt.InvalidSignatureError:
        raise Unauthorized("the assertion's signature does not verify", code="assertion_forged") from None
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid assertion: {exc}", code="assertion_invalid") from None
    now = time.time()
    exp = float(claims["exp"])
    iat = claims.get("iat")
    # Short-lived means short-lived: a leaked assertion must not be a long-term key to the copilot.
    if exp - now > max_life_s + LEEWAY_S or (isinstance(iat, int | float) and exp - float(iat) > max_life_s):
        raise Unauthorized(
            f"the assertion lives too long: exp may be at most {max_life_s} s ahead", code="assertion_too_long"
        )
    if not isinstance(claims["sub"], str) or not claims["sub"].strip():
        raise Unauthorized("the assertion's sub must be a username", code="assertion_invalid")
    return claims


@router.get("/me", response_model=UserInfo)
def me(principal: PrincipalDep) -> UserInfo:
    """Who the bearer token stands for (the web app's header, the widget's panel)."""
    return user_info(principal)
