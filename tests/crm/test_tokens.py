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
