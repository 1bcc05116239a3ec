"""Bearer tokens: issued once, stored hashed, resolved to the right Principal; the CLI prints one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update

from copilot.core.errors import NotFound, Unauthorized
from copilot.crm.models import User
from copilot.service.runtime import Runtime
from copilot.store.models import ApiToken
from copilot.store.tokens import authenticate, hash_token, issue_token

ROOT = Path(__file__).resolve().parents[2]


def test_token_round_trip(demo_runtime: Runtime) -> None:
    with demo_runtime.sessions() as session, session.begin():
        token = issue_token(session, "rep_east_1")
    with demo_runtime.sessions() as session:
        stored = list(session.scalars(select(ApiToken.token_hash)))
        assert token not in stored, "the token itself must never be stored"
        assert hash_token(token) in stored
        principal = authenticate(session, token)
        assert principal.username == "rep_east_1"
        assert "sales_rep" in principal.roles
        assert principal.department_code == "sales-east"


def test_two_tokens_are_different_and_both_work(demo_runtime: Runtime) -> None:
    with demo_runtime.sessions() as session, session.begin():
        a, b = issue_token(session, "service_agent_1"), issue_token(session, "service_agent_1")
    assert a != b
    with demo_runtime.sessions() as session:
        assert authenticate(session, a).username == authenticate(session, b).username == "service_agent_1"


@pytest.mark.parametrize("bad", ["", "   ", None, "crmc_not-a-real-token"])
def test_bad_tokens_are_401(demo_runtime: Runtime, bad: str | None) -> None:
    with demo_runtime.sessions() as session, pytest.raises(Unauthorized):
        authenticate(session, bad)


def test_deactivated_user_token_stops_working(demo_runtime: Runtime) -> None:
    with demo_runtime.sessions() as session, session.begin():
        token = issue_token(session, "rep_south_1")
    try:
        with demo_runtime.sessions() as session, session.begin():
            session.execute(update(User).where(User.username == "rep_south_1").values(is_active=False))
        with demo_runtime.sessions() as session, pytest.raises(Unauthorized):
            authenticate(session, token)
    finally:
        with demo_runtime.sessions() as session, session.begin():
            session.execute(update(User).where(User.username == "rep_south_1").values(is_active=True))


def test_unknown_user_gets_no_token(demo_runtime: Runtime) -> None:
    with demo_runtime.sessions() as session, pytest.raises(NotFound):
        issue_token(session, "nobody")


def _cli(demo_runtime: Runtime, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRM_COPILOT_DATA_DIR": str(demo_runtime.settings.data_dir),
           "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    env.pop("CRM_COPILOT_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "copilot.cli.main", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_cli_token_prints_exactly_one_line(demo_runtime: Runtime) -> None:
    proc = _cli(demo_runtime, "token", "marketer_1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].strip() == lines[0]
    with demo_runtime.sessions() as session:
        assert authenticate(session, lines[0]).username == "marketer_1"


def test_cli_token_unknown_user(demo_runtime: Runtime) -> None:
    proc = _cli(demo_runtime, "token", "no_such_user")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "unknown user" in proc.stderr and "no_such_user" in proc.stderr


# --- expiry and revocation ---------------------------------------------------------------------------


def _row(demo_runtime: Runtime, token: str) -> ApiToken:
    with demo_runtime.sessions() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        assert row is not None
        session.expunge(row)
        return row


def test_a_token_past_its_expiry_is_401(demo_runtime: Runtime) -> None:
    import datetime as dt

    with demo_runtime.sessions() as session, session.begin():
        token = issue_token(session, "rep_east_2", dt.timedelta(hours=8))
    with demo_runtime.sessions() as session:
        assert authenticate(session, token).username == "rep_east_2"
    # Eight hours pass: the stored expiry is now behind the machine's clock.
    with demo_runtime.sessions() as session, session.begin():
        session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_token(token))
            .values(expires_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1))
        )
    with demo_runtime.sessions() as session, pytest.raises(Unauthorized, match="expired"):
        authenticate(session, token)


@pytest.mark.parametrize(
    "text, seconds", [("8h", 8 * 3600), ("30m", 1800), ("7d", 7 * 86400), ("2w", 14 * 86400), ("90s", 90),
                      ("never", None), ("0", None)]
)
def test_ttl_syntax(text: str, seconds: int | None) -> None:
    from copilot.store.tokens import parse_ttl

    ttl = parse_ttl(text)
    assert (ttl.total_seconds() if ttl else None) == seconds


@pytest.mark.parametrize("text", ["8", "h", "8 hours", "-1h", "999999w", "1e3s"])
def test_bad_ttl_is_a_clear_error(text: str) -> None:
    from copilot.core.errors import BadRequest
    from copilot.store.tokens import parse_ttl

    with pytest.raises(BadRequest, match="lifetime"):
        parse_ttl(text)


def test_cli_token_ttl_stores_the_expiry(demo_runtime: Runtime) -> None:
    import datetime as dt

    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    proc = _cli(demo_runtime, "token", "service_mgr", "--ttl", "8h")
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    row = _row(demo_runtime, token)
    assert row.expires_at is not None
    assert dt.timedelta(hours=8) <= row.expires_at - before <= dt.timedelta(hours=8, minutes=2)
    never = _cli(demo_runtime, "token", "service_mgr", "--ttl", "never")
    assert _row(demo_runtime, never.stdout.strip()).expires_at is None
    bad = _cli(demo_runtime, "token", "service_mgr", "--ttl", "soon")
    assert bad.returncode == 2 and bad.stdout == "" and "lifetime" in bad.stderr


def test_cli_token_revoke_ends_every_token_of_that_user_only(demo_runtime: Runtime) -> None:
    with demo_runtime.sessions() as session, session.begin():
        mine = [issue_token(session, "service_agent_1") for _ in range(2)]
        other = issue_token(session, "sales_mgr_east")
    proc = _cli(demo_runtime, "token", "revoke", "service_agent_1")
    assert proc.returncode == 0, proc.stderr
    assert "revoked" in proc.stdout
    with demo_runtime.sessions() as session:
        for token in mine:
            with pytest.raises(Unauthorized):
                authenticate(session, token)
        assert authenticate(session, other).username == "sales_mgr_east"
    # The rows stay (audit rows keep naming their user); they are stamped, not deleted.
    assert _row(demo_runtime, mine[0]).revoked_at is not None
    # A new token after the revocation works again.
    with demo_runtime.sessions() as session, session.begin():
        fresh = issue_token(session, "service_agent_1")
    with demo_runtime.sessions() as session:
        assert authenticate(session, fresh).username == "service_agent_1"
    unknown = _cli(demo_runtime, "token", "revoke", "no_such_user")
    assert unknown.returncode == 2 and "unknown user" in unknown.stderr


def test_token_comparison_is_constant_time() -> None:
    """The one comparison of a secret in Python goes through hmac.compare_digest (read from the source:
    a timing test on a shared 2-core machine would be noise)."""
    import inspect

    from copilot.store import tokens

    source = inspect.getsource(tokens.authenticate)
    assert "hmac.compare_digest(" in source
    assert "token_hash ==" not in source.replace("ApiToken.token_hash ==", "")
