"""``/v1/records``: what the web app's lists and record pages show each demo user, checked against
hand-written SQL over the demo data (never against the permission code under test)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from copilot.core.clock import today
from copilot.crm.models import Account, Contract, Opportunity, Ticket, TicketMessage, User
from copilot.service.runtime import Runtime
from tests.api.conftest import DEMO_USERS, RecordPlan

Auth = Callable[[str], dict[str, str]]


def _uid(runtime: Runtime, username: str) -> int:
    with runtime.sessions() as s:
        return int(s.scalar(select(User.id).where(User.username == username)) or 0)


@pytest.mark.parametrize("user", DEMO_USERS)
def test_each_user_opens_what_they_may_see_and_nothing_else(
    user: str, client: TestClient, auth: Auth, records: dict[str, RecordPlan]
) -> None:
    plan = records[user]
    seen = client.get(f"/v1/records/{plan.visible.object_type}/{plan.visible.object_id}", headers=auth(user))
    assert seen.status_code == 200, seen.text
    assert seen.json()["title"] == plan.visible.text
    if plan.invisible is not None:
        hidden = client.get(f"/v1/records/{plan.invisible.object_type}/{plan.invisible.object_id}", headers=auth(user))
        assert hidden.status_code == 404
        assert hidden.json()["error"]["code"] == "not_found"
        assert plan.invisible.text not in hidden.text
        # Nor does a search of the list by its name find it.
        listed = client.get(f"/v1/records/{plan.invisible.object_type}", params={"q": plan.invisible.text},
                            headers=auth(user))
        assert listed.status_code == 200 and plan.invisible.text not in listed.text


def test_my_deals_are_the_ones_i_own(client: TestClient, auth: Auth, demo_runtime: Runtime) -> None:
    uid = _uid(demo_runtime, "rep_east_1")
    with demo_runtime.sessions() as s:
        expected = int(s.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.owner_id == uid)) or 0)
    r = client.get("/v1/records/opportunities", params={"mine": "true", "limit": 200}, headers=auth("rep_east_1"))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["object_type"] == "opportunity" and page["total"] == expected == len(page["records"]) > 0
    assert all(row["fields"]["owner_id"] == uid for row in page["records"])
    assert all(row["url"] == f"/records/opportunity/{row['id']}" for row in page["records"])


def test_my_deals_closing_this_month(client: TestClient, auth: Auth, demo_runtime: Runtime) -> None:
    uid = _uid(demo_runtime, "rep_east_1")
    day = today(demo_runtime.settings)
    first = day.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    with demo_runtime.sessions() as s:
        expected = list(s.scalars(
            select(Opportunity.id).where(
                Opportunity.owner_id == uid, Opportunity.stage.not_in(("赢单", "输单")),
                Opportunity.close_date >= first, Opportunity.close_date < following,
            ).order_by(Opportunity.close_date, Opportunity.id)
        ))
    r = client.get("/v1/records/opportunity", params={"mine": "true", "closing": "this_month"},
                   headers=auth("rep_east_1"))
    assert r.status_code == 200, r.text
    assert [row["id"] for row in r.json()["records"]] == expected
    assert expected, "the demo has deals of this rep closing this month (the check must be able to fail)"


def test_a_deal_page_names_its_account_and_owner(
    client: TestClient, auth: Auth, demo_runtime: Runtime, records: dict[str, RecordPlan]
) -> None:
    deal = records["rep_east_1"].visible
    with demo_runtime.sessions() as s:
        opp = s.get(Opportunity, deal.object_id)
        assert opp is not None
        account = s.get(Account, opp.account_id)
        owner = s.get(User, opp.owner_id)
        assert account is not None and owner is not None
        account_name, owner_name = account.name, owner.display_name
    r = client.get(f"/v1/records/opportunity/{deal.object_id}", headers=auth("rep_east_1"))
    body = r.json()
    assert body["names"]["account_id"] == account_name and body["names"]["owner_id"] == owner_name
    assert "amount" in body["fields"] and body["hidden"] == []
    assert {"activities", "tasks"} <= set(body["related"])


def test_hidden_fields_are_absent_and_listed(client: TestClient, auth: Auth, demo_runtime: Runtime) -> None:
    """A channel partner sees its own contracts' values but never our margin (field_access.yaml)."""
    with demo_runtime.sessions() as s:
        partner = s.scalar(select(User.partner_id).where(User.username == "partner_user_1"))
        contract_id = s.scalar(select(Contract.id).where(Contract.partner_id == partner).order_by(Contract.id))
        margin = s.scalar(select(Contract.margin).where(Contract.id == contract_id))
    assert contract_id is not None and margin is not None
    r = client.get(f"/v1/records/contract/{contract_id}", headers=auth("partner_user_1"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert "margin" not in body["fields"] and "margin" in body["hidden"] and "amount" in body["fields"]
    assert client.get(f"/v1/records/contract/{contract_id}", headers=auth("rep_east_1")).json()["hidden"] == []


def test_a_ticket_page_shows_its_conversation(
    client: TestClient, auth: Auth, demo_runtime: Runtime, records: dict[str, RecordPlan]
) -> None:
    ticket = records["service_agent_1"].visible
    with demo_runtime.sessions() as s:
        bodies = list(s.scalars(select(TicketMessage.body).where(TicketMessage.ticket_id == ticket.object_id)
                                .order_by(TicketMessage.sent_at, TicketMessage.id)))
        subject = s.scalar(select(Ticket.subject).where(Ticket.id == ticket.object_id))
    r = client.get(f"/v1/records/ticket/{ticket.object_id}", headers=auth("service_agent_1"))
    body = r.json()
    assert body["subtitle"] == subject
    assert [m["fields"]["body"] for m in body["related"]["messages"]] == bodies


def test_bad_requests_are_clear(client: TestClient, auth: Auth) -> None:
    assert client.get("/v1/records/spaceships", headers=auth("admin")).status_code == 404
    assert client.get("/v1/records/ticket", params={"closing": "this_month"}, headers=auth("admin")).status_code == 400
    assert client.get("/v1/records/opportunity/0", headers=auth("admin")).status_code == 422
    assert client.get("/v1/records/opportunity", headers={}).status_code == 401


def test_a_partner_reads_its_ticket_without_our_internal_notes(client: TestClient, auth: Auth,
                                                                demo_runtime: Runtime) -> None:
    with demo_runtime.sessions() as s:
        partner = s.scalar(select(User.partner_id).where(User.username == "partner_user_1"))
        rows = s.execute(select(Ticket.id, TicketMessage.body, TicketMessage.author_kind)
                         .join(TicketMessage, TicketMessage.ticket_id == Ticket.id)
                         .where(Ticket.partner_id == partner).order_by(Ticket.id, TicketMessage.id)).all()
    with_notes = sorted({t for t, _, kind in rows if kind == "internal"})
    if not with_notes:
        pytest.skip("no ticket of the partner's company carries an internal note in this demo")
    ticket = with_notes[0]
    internal = [b for t, b, kind in rows if t == ticket and kind == "internal"]
    shown = client.get(f"/v1/records/ticket/{ticket}", headers=auth("partner_user_1")).json()["related"]["messages"]
    assert [m["fields"]["body"] for m in shown] == [b for t, b, k in rows if t == ticket and k != "internal"]
    staff = client.get(f"/v1/records/ticket/{ticket}", headers=auth("admin")).json()["related"]["messages"]
    assert set(internal) <= {m["fields"]["body"] for m in staff}
