"""Bearer tokens: random, shown once, stored only as a SHA-256 hash (a leaked table grants nothing)."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from copilot.core.errors import NotFound, Unauthorized
from copilot.crm.models import User
from copilot.crm.principal import Principal, principal_for_user
from copilot.store.models import ApiToken

TOKEN_PREFIX = "crmc_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, username: str) -> str:
    """A new token for an active user; the caller commits. Raises NotFound for an unknown user."""
    user = session.scalar(select(User).where(User.username == username, User.is_active.is_(True)))
    if user is None:
        raise NotFound(f"unknown user {username!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token)))
    session.flush()
    return token


def authenticate(session: Session, token: str | None) -> Principal:
    """The Principal a bearer token stands for. A missing, unknown or disabled-user token is 401."""
    if not token or not token.strip():
        raise Unauthorized("missing bearer token")
    user = session.scalar(
        select(User).join(ApiToken, ApiToken.user_id == User.id).where(ApiToken.token_hash == hash_token(token.strip()))
    )
    if user is None or not user.is_active:
        raise Unauthorized("invalid or revoked token")
    return principal_for_user(session, user)


def revoke_tokens(session: Session, username: str) -> int:
    """Delete every token of a user; returns how many were revoked."""
    ids = list(session.scalars(select(ApiToken.id).join(User, User.id == ApiToken.user_id)
                               .where(User.username == username)))
    for token_id in ids:
        session.delete(session.get(ApiToken, token_id))
    return len(ids)
