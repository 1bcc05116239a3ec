"""API-wide fixtures: one demo runtime per session, apps over it, bearer tokens, a real uvicorn server.

``demo_runtime`` comes from tests/crm/conftest.py when that module provides it (one demo organisation
for the whole suite); otherwise an identical one is built here with ``init_demo``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from copilot.api.app import create_app
from copilot.service.runtime import Runtime
from tests.fakes.openai_server import fake_openai  # noqa: F401  (registers the fixture for this package)

DEMO_USERS = (
    "admin",
    "sales_mgr_east",
    "rep_east_1",
    "rep_east_2",
    "rep_south_1",
    "service_mgr",
    "service_agent_1",
    "marketer_1",
    "partner_user_1",
)

try:  # reuse the CRM engineer's fixture: pytest registers an imported fixture in this conftest too
    from tests.crm.conftest import demo_runtime
except ImportError:

    @pytest.fixture(scope="session")
    def demo_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
        from copilot.core.settings import Settings
        from copilot.demo.install import init_demo

        data_dir = tmp_path_factory.mktemp("api-demo")
        runtime = Runtime(Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'crm.sqlite3'}"))
        init_demo(runtime)
        yield runtime
        runtime.close()


@pytest.fixture(scope="session")
def api_app(demo_runtime: Runtime) -> FastAPI:
    return create_app(demo_runtime)


@pytest.fixture(scope="session")
def client(api_app: FastAPI) -> TestClient:
    # No `with`: the in-process client does not run the lifespan, which belongs to the live server's app.
    return TestClient(api_app, raise_server_exceptions=False)


@pytest.fixture(scope="session")
def token_for(demo_runtime: Runtime) -> Callable[[str], str]:
    """``token_for("rep_east_1")`` → a bearer token for that demo user (one per user per session)."""
    from copilot.store.tokens import issue_token

    cache: dict[str, str] = {}

    def token(username: str) -> str:
        if username not in cache:
            with demo_runtime.sessions() as session:
                cache[username] = issue_token(session, username)
                session.commit()
        return cache[username]

    return token


@pytest.fixture(scope="session")
def auth(token_for: Callable[[str], str]) -> Callable[[str], dict[str, str]]:
    return lambda username: {"Authorization": f"Bearer {token_for(username)}"}


@dataclass
class LiveServer:
    url: str
    server: Any


@contextmanager
def serve(app: FastAPI) -> Iterator[LiveServer]:
    """``app`` served by a real uvicorn on a free loopback port, in a background thread."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", server=server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def live_server(demo_runtime: Runtime) -> Iterator[LiveServer]:
    """The app served by a real uvicorn on a free loopback port, in a background thread."""
    # Its own app object: the lifespan (MCP session manager) runs here and nowhere else.
    with serve(create_app(demo_runtime)) as server:
        yield server


@dataclass(frozen=True)
class Record:
    object_type: str
    object_id: int
    # Text only this record carries (its name or number): it must never reach a caller who cannot see it.
    text: str

    @property
    def context(self) -> dict[str, Any]:
        return {"object_type": self.object_type, "object_id": self.object_id}


@dataclass(frozen=True)
class RecordPlan:
    visible: Record
    invisible: Record | None  # None for admin, who sees everything


@pytest.fixture(scope="session")
def records(demo_runtime: Runtime) -> dict[str, RecordPlan]:
    """For each demo user, a record they can see and one they cannot.

    Chosen from ownership facts of the demo organisation, not by asking the permission policy (which is
    what is under test): opportunities are private with no sharing rule, so another sales region's deal
    is invisible to everyone but its owner's chain, its related team and admin.
    """
    from sqlalchemy import select

    from copilot.crm.models import Account, Opportunity, RecordTeamMember, Ticket, User

    with demo_runtime.sessions() as s:
        uid = {u.username: u.id for u in s.scalars(select(User))}
        partner_of = {u.username: u.partner_id for u in s.scalars(select(User))}
        on_team: dict[int, set[int]] = {}
        for row in s.scalars(select(RecordTeamMember).where(RecordTeamMember.object_type == "opportunity")):
            on_team.setdefault(row.record_id, set()).add(row.user_id)

        def opp(owner: str, *, not_on_team_of: str | None = None) -> Record:
            q = select(Opportunity).where(Opportunity.owner_id == uid[owner], Opportunity.partner_id.is_(None))
            for o in s.scalars(q.order_by(Opportunity.id)):
                if not_on_team_of is None or uid[not_on_team_of] not in on_team.get(o.id, set()):
                    return Record("opportunity", o.id, o.name)
            raise LookupError(f"no suitable opportunity of {owner}")

        def partner_opp(username: str) -> Record:
            o = s.scalars(
                select(Opportunity).where(Opportunity.partner_id == partner_of[username]).order_by(Opportunity.id)
            ).first()
            assert o is not None, "the demo has opportunities of the partner's company"
            return Record("opportunity", o.id, o.name)

        def own_ticket(owner: str) -> Record:
            t = s.scalars(select(Ticket).where(Ticket.owner_id == uid[owner]).order_by(Ticket.id)).first()
            assert t is not None
            return Record("ticket", t.id, t.number)

        def sales_account(owner: str) -> Record:
            a = s.scalars(
                select(Account)
                .where(Account.owner_id == uid[owner], Account.partner_id.is_(None), Account.in_public_pool.is_(False))
                .order_by(Account.id)
            ).first()
            assert a is not None
            return Record("account", a.id, a.name)

        south_deal = opp("rep_south_1")
        return {
            "admin": RecordPlan(opp("rep_east_1"), None),
            "sales_mgr_east": RecordPlan(opp("rep_east_1"), opp("rep_south_1", not_on_team_of="sales_mgr_east")),
            "rep_east_1": RecordPlan(opp("rep_east_1"), opp("rep_south_1", not_on_team_of="rep_east_1")),
            "rep_east_2": RecordPlan(opp("rep_east_2"), opp("rep_east_1", not_on_team_of="rep_east_2")),
            "rep_south_1": RecordPlan(opp("rep_south_1"), opp("rep_east_1", not_on_team_of="rep_south_1")),
            # Service sees tickets of its department (sharing rule) and sales accounts, never deals.
            "service_mgr": RecordPlan(own_ticket("service_agent_1"), south_deal),
            "service_agent_1": RecordPlan(own_ticket("service_agent_1"), south_deal),
            # Marketing reads sales accounts (sharing rule), never deals.
            "marketer_1": RecordPlan(sales_account("rep_east_1"), south_deal),
            # A partner user sees its own company's records only.
            "partner_user_1": RecordPlan(partner_opp("partner_user_1"), opp("rep_east_1")),
        }
