"""Bearer tokens: random, shown once, stored only as a SHA-256 hash (a leaked table grants nothing).

A token may carry an expiry (``crm-copilot token USERNAME --ttl 8h``) and is revoked by stamping
``revoked_at`` (``crm-copilot token revoke USERNAME``): the row stays, so audit rows keep their user.
Expiry runs on the machine's clock, never on the pinned business "today" (a demo pinned to a past date
must not make fresh tokens look expired, nor old ones look valid).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from copilot.core.errors import BadRequest, NotFound, Unauthorized
from copilot.crm.models import User
from copilot.crm.principal import Principal, principal_for_user
from copilot.store.models import ApiToken

TOKEN_PREFIX = "crmc_"
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$", re.I)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Longer than any sensible token life, and far inside datetime's range (no OverflowError on "999999w").
MAX_TTL = dt.timedelta(days=3660)
NO_EXPIRY = ("", "0", "never", "none")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def parse_ttl(text: str | None) -> dt.timedelta | None:
    """``8h``, ``30m``, ``7d``, ``2w``, ``90s`` → a timedelta; ``never``/``0``/empty → None (no expiry)."""
    if text is None or text.strip().lower() in NO_EXPIRY:
        return None
    match = _DURATION.match(text)
    if match is None:
        raise BadRequest(f"invalid token lifetime {text!r}: use a number and a unit, e.g. 8h, 30m, 7d, 2w")
    ttl = dt.timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])
    if ttl > MAX_TTL:
        raise BadRequest(f"token lifetime {text!r} is over the maximum of {MAX_TTL.days} days")
    return ttl


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, username: str, ttl: dt.timedelta | None = None) -> str:
    """A new token for an active user, valid for ``ttl`` (None: until revoked); the caller commits.
    Raises NotFound for an unknown user."""
    user = session.scalar(select(User).where(User.username == username, User.is_active.is_(True)))
    if user is None:
        raise NotFound(f"unknown user {username!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + ttl if ttl is not None else None
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), expires_at=expires_at))
    session.flush()
    return token


def authenticate(session: Session, token: str | None) -> Principal:
    """The Principal a bearer token stands for. A missing, unknown, expired, revoked or disabled-user
    token is 401, with one message for all of them (a caller learns nothing about which)."""
    if not token or not token.strip():
        raise Unauthorized("missing bearer token")
    digest = hash_token(token.strip())
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The database found the row by an index on the hash; the comparison in Python is constant-time anyway,
    # so no code path here leaks, through timing, how much of a secret matched.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized("invalid, expired or revoked token")
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= utcnow()):
        raise Unauthorized("invalid, expired or revoked token")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("invalid, expired or revoked token")
    return principal_for_user(session, user)


def revoke_tokens(session: Session, username: str) -> int:
    """Revoke every live token of a user; returns how many. NotFound for an unknown user."""
    user_id = session.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        raise NotFound(f"unknown user {username!r}")
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
