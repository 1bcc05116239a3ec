"""Actions a person confirms: an answer proposes, nothing is written until its user confirms, and then
exactly once, permission-checked and audited. Over HTTP on a demo organisation of this module's own (the
writes must not change what other tests' answers see)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from copilot.api.app import create_app
from copilot.core.settings import Settings
from copilot.crm.models import Activity, Opportunity, RecordTeamMember, Ticket, TicketMessage, User
from copilot.crm.principal import load_principal
from copilot.service.actions import propose
from copilot.service.runtime import Runtime
from copilot.store.models import AuditEvent, ProposedAction
from skills.base import Action, ProposedWrite, SkillResult

Headers = Callable[[str], dict[str, str]]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    from copilot.demo.install import init_demo

    data = tmp_path_factory.mktemp("actions-demo")
    rt = Runtime(Settings(data_dir=data, database_url=None, chroma_path=data / "chroma"))
    init_demo(rt, ingest_kb=False)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime, warm_up=False), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def auth(client: TestClient) -> Headers:
    cache: dict[str, dict[str, str]] = {}

    def headers(user: str) -> dict[str, str]:
        if user not in cache:
            r = client.post("/v1/auth/login", json={"username": user, "password": "demo"})
            cache[user] = {"Authorization": f"Bearer {r.json()['token']}"}
        return cache[user]

    return headers


def _count(runtime: Runtime, model: Any, *where: Any) -> int:
    with runtime.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _own_deal(runtime: Runtime, username: str) -> int:
    with runtime.sessions() as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        deal = s.scalar(select(Opportunity.id).where(Opportunity.owner_id == uid, Opportunity.partner_id.is_(None),
                                                     Opportunity.stage.not_in(("赢单", "输单")))
                        .order_by(Opportunity.id))
    assert deal is not None
    return int(deal)


def _actions(client: TestClient, auth: Headers, user: str, skill: str, object_type: str, object_id: int) -> list[Any]:
    message = "下一步该做什么" if skill == "next_best_action" else "帮我写个回复"
    context = {"object_type": object_type, "object_id": object_id}
    r = client.post("/v1/assist", json={"message": message, "skill": skill, "context": context}, headers=auth(user))
    assert r.status_code == 200, r.text
    return list(r.json()["actions"])


def _proposal(runtime: Runtime, user: str, write: ProposedWrite, draft: str = "请确认") -> str:
    """A proposal stored the way a turn stores a skill's (for operations no demo answer happens to offer)."""
    with runtime.sessions() as s:
        principal = load_principal(s, user)
        result = SkillResult(skill="next_best_action", answer="", trace_id="t" * 32,
                             actions=[Action(kind="test", title="跟进待办", draft=draft, confirm=write)])
        propose(s, principal, result)
        s.commit()
    assert result.actions[0].id
    return result.actions[0].id


def test_a_confirmed_next_best_action_is_logged_once_on_the_deal(
    client: TestClient, auth: Headers, runtime: Runtime
) -> None:
    deal = _own_deal(runtime, "rep_east_1")
    actions = _actions(client, auth, "rep_east_1", "next_best_action", "opportunity", deal)
    assert actions and all(a["id"] for a in actions)
    # Every action of the answer is stored under its user; nothing is written yet.
    assert _count(runtime, ProposedAction, ProposedAction.id.in_([a["id"] for a in actions])) == len(actions)
    chosen = next(a for a in actions if a.get("confirm", {}).get("operation") == "log_activity")
    target = chosen["confirm"]["object_id"]
    before = _count(runtime, Activity, Activity.opportunity_id == target)

    edited = chosen["draft"] + "（已电话确认）"
    first = client.post(f"/v1/actions/{chosen['id']}/confirm", json={"draft": edited}, headers=auth("rep_east_1"))
    assert first.status_code == 201, first.text
    record = first.json()["record"]
    assert record["object_type"] == "activity" and first.json()["action"]["status"] == "confirmed"
    again = client.post(f"/v1/actions/{chosen['id']}/confirm", json={}, headers=auth("rep_east_1"))
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert _count(runtime, Activity, Activity.opportunity_id == target) == before + 1

    # The record page shows the new follow-up, with the edited text, newest first.
    page = client.get(f"/v1/records/opportunity/{target}", headers=auth("rep_east_1")).json()
    newest = page["related"]["activities"][0]
    assert newest["id"] == record["id"] and newest["fields"]["body"] == edited
    assert newest["fields"]["kind"] == chosen["confirm"]["activity_kind"]
    with runtime.sessions() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.skill == "action:log_activity")))
    audit = [r for r in rows if r.timings_ms.get("action_id") == chosen["id"]]
    assert len(audit) == 1
    assert audit[0].record_ids == [f"crm:opportunity:{target}", f"crm:activity:{record['id']}"]


def test_nobody_else_confirms_or_dismisses_my_action(client: TestClient, auth: Headers, runtime: Runtime) -> None:
    deal = _own_deal(runtime, "rep_east_1")
    action = _actions(client, auth, "rep_east_1", "next_best_action", "opportunity", deal)[0]
    before = _count(runtime, Activity)
    for other in ("rep_east_2", "sales_mgr_east", "admin", "partner_user_1"):
        r = client.post(f"/v1/actions/{action['id']}/confirm", json={}, headers=auth(other))
        assert r.status_code == 404 and r.json()["error"]["code"] == "action_not_found"
        assert client.post(f"/v1/actions/{action['id']}/dismiss", headers=auth(other)).status_code == 404
    assert _count(runtime, Activity) == before
    assert client.post("/v1/actions/no-such-action/confirm", json={}, headers=auth("rep_east_1")).status_code == 404


def test_a_dismissed_action_cannot_be_confirmed(client: TestClient, auth: Headers, runtime: Runtime) -> None:
    deal = _own_deal(runtime, "rep_east_2")
    action = _actions(client, auth, "rep_east_2", "next_best_action", "opportunity", deal)[0]
    before = _count(runtime, Activity)
    r = client.post(f"/v1/actions/{action['id']}/dismiss", headers=auth("rep_east_2"))
    assert r.status_code == 200 and r.json()["action"]["status"] == "dismissed"
    assert client.post(f"/v1/actions/{action['id']}/dismiss", headers=auth("rep_east_2")).status_code == 200
    refused = client.post(f"/v1/actions/{action['id']}/confirm", json={}, headers=auth("rep_east_2"))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "action_dismissed"
    assert _count(runtime, Activity) == before
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.skill == "action:dismiss")) == 1


def test_a_reply_suggestion_is_edited_and_posted_on_the_ticket(
    client: TestClient, auth: Headers, runtime: Runtime
) -> None:
    with runtime.sessions() as s:
        uid = s.scalar(select(User.id).where(User.username == "service_agent_1"))
        ticket = s.scalar(select(Ticket.id).where(Ticket.owner_id == uid, Ticket.status.not_in(("resolved", "closed")))
                          .order_by(Ticket.id))
    assert ticket is not None
    (reply,) = _actions(client, auth, "service_agent_1", "reply_suggestion", "ticket", ticket)
    assert reply["confirm"] == {"operation": "post_reply", "object_type": "ticket", "object_id": ticket,
                                "label": "发送回复"}
    text = reply["draft"].replace("您好", "您好，我是工程师刘洋", 1)
    before = _count(runtime, TicketMessage, TicketMessage.ticket_id == ticket)
    for _ in range(2):
        r = client.post(f"/v1/actions/{reply['id']}/confirm", json={"draft": text}, headers=auth("service_agent_1"))
        assert r.status_code == 201 and r.json()["record"]["object_type"] == "ticket_message"
    assert _count(runtime, TicketMessage, TicketMessage.ticket_id == ticket) == before + 1
    messages = client.get(f"/v1/records/ticket/{ticket}", headers=auth("service_agent_1")).json()["related"]["messages"]
    assert messages[-1]["fields"]["body"] == text and messages[-1]["fields"]["author_kind"] == "agent"


def test_a_colleague_is_added_to_the_deal_team_with_a_note(
    client: TestClient, auth: Headers, runtime: Runtime
) -> None:
    """The manager's deals with an urgent ticket: the action brings the ticket's engineer onto the deal."""
    found = None
    with runtime.sessions() as s:
        deals = list(s.scalars(select(Opportunity.id).where(Opportunity.partner_id.is_(None)).order_by(Opportunity.id)))
    for deal in deals[:80]:
        r = client.post("/v1/assist", json={"message": "下一步该做什么", "skill": "next_best_action",
                                            "context": {"object_type": "opportunity", "object_id": deal}},
                        headers=auth("sales_mgr_east"))
        if r.status_code != 200:
            continue
        found = next((a for a in r.json()["actions"] if a.get("confirm", {}).get("operation") == "add_collaborator"),
                     None)
        if found:
            break
    assert found is not None, "the demo has a deal whose account has an urgent ticket"
    write = found["confirm"]
    r = client.post(f"/v1/actions/{found['id']}/confirm", json={}, headers=auth("sales_mgr_east"))
    assert r.status_code == 201, r.text
    page = client.get(f"/v1/records/opportunity/{write['object_id']}", headers=auth("sales_mgr_east")).json()
    assert write["user_id"] in [m["user_id"] for m in page["team"]]
    note = next(a for a in page["related"]["activities"] if a["id"] == r.json()["record"]["id"])
    assert note["fields"]["body"].startswith(f"@{write['user_name']}")
    # The colleague now reads the deal (the related team grants it).
    with runtime.sessions() as s:
        colleague = s.scalar(select(User.username).where(User.id == write["user_id"]))
        assert s.scalar(select(func.count()).select_from(RecordTeamMember).where(
            RecordTeamMember.object_type == "opportunity", RecordTeamMember.record_id == write["object_id"],
            RecordTeamMember.user_id == write["user_id"])) == 1
    assert colleague
    seen = client.get(f"/v1/records/opportunity/{write['object_id']}", headers=auth(colleague))
    assert seen.status_code == 200


def test_a_task_is_created_with_its_due_date_and_shown_to_its_owner(
    client: TestClient, auth: Headers, runtime: Runtime
) -> None:
    deal = _own_deal(runtime, "rep_south_1")
    write = ProposedWrite(operation="create_task", object_type="opportunity", object_id=deal, due_date="2026-11-23")
    action_id = _proposal(runtime, "rep_south_1", write, draft="约客户技术交流")
    r = client.post(f"/v1/actions/{action_id}/confirm", headers=auth("rep_south_1"))
    assert r.status_code == 201, r.text
    task_id = r.json()["record"]["id"]
    assert r.json()["record"]["object_type"] == "task"
    task = client.get(f"/v1/records/task/{task_id}", headers=auth("rep_south_1")).json()
    assert task["fields"]["due_date"] == "2026-11-23" and task["fields"]["description"] == "约客户技术交流"
    assert task["names"]["opportunity_id"] and task["fields"]["status"] == "open"
    page = client.get(f"/v1/records/opportunity/{deal}", headers=auth("rep_south_1")).json()
    assert [t["id"] for t in page["related"]["tasks"]] == [task_id]
    # Tasks are private like deals: another region's rep does not see it; the owner's list does.
    assert client.get(f"/v1/records/task/{task_id}", headers=auth("rep_east_1")).status_code == 404
    mine = client.get("/v1/records/tasks", params={"mine": "true", "open": "true"}, headers=auth("rep_south_1"))
    assert task_id in [t["id"] for t in mine.json()["records"]]


def test_the_write_check_runs_at_confirm_time(client: TestClient, auth: Headers, runtime: Runtime) -> None:
    """A marketer reads sales accounts (sharing rule, read only): a proposal to log on one is refused, 403."""
    with runtime.sessions() as s:
        principal = load_principal(s, "marketer_1")
        from copilot.crm.repository import Records

        account = Records(s, principal).first("account")
    assert account is not None
    action_id = _proposal(runtime, "marketer_1",
                          ProposedWrite(operation="log_activity", object_type="account", object_id=account.id))
    before = _count(runtime, Activity)
    r = client.post(f"/v1/actions/{action_id}/confirm", json={}, headers=auth("marketer_1"))
    assert r.status_code == 403, r.text
    assert _count(runtime, Activity) == before
    # Refused writes leave the action as it was: still proposed.
    with runtime.sessions() as s:
        row = s.get(ProposedAction, action_id)
        assert row is not None and row.status == "proposed"


def test_a_partner_confirms_only_on_its_own_records(client: TestClient, auth: Headers, runtime: Runtime) -> None:
    with runtime.sessions() as s:
        partner = s.scalar(select(User.partner_id).where(User.username == "partner_user_1"))
        own = s.scalar(select(Opportunity.id).where(Opportunity.partner_id == partner).order_by(Opportunity.id))
        internal = s.scalar(select(Opportunity.id).where(Opportunity.partner_id.is_(None)).order_by(Opportunity.id))
    assert own is not None and internal is not None
    mine = _proposal(runtime, "partner_user_1",
                     ProposedWrite(operation="log_activity", object_type="opportunity", object_id=own))
    theirs = _proposal(runtime, "partner_user_1",
                       ProposedWrite(operation="log_activity", object_type="opportunity", object_id=internal))
    ok = client.post(f"/v1/actions/{mine}/confirm", json={"draft": "已电话沟通"}, headers=auth("partner_user_1"))
    assert ok.status_code == 201, ok.text
    activity = client.get(f"/v1/records/activity/{ok.json()['record']['id']}", headers=auth("partner_user_1"))
    assert activity.status_code == 200 and activity.json()["fields"]["body"] == "已电话沟通"
    before = _count(runtime, Activity, Activity.opportunity_id == internal)
    refused = client.post(f"/v1/actions/{theirs}/confirm", json={}, headers=auth("partner_user_1"))
    assert refused.status_code == 404
    assert _count(runtime, Activity, Activity.opportunity_id == internal) == before


def test_an_action_that_writes_nothing_is_not_confirmable(client: TestClient, auth: Headers, runtime: Runtime) -> None:
    with runtime.sessions() as s:
        principal = load_principal(s, "rep_east_1")
        result = SkillResult(skill="clarify", answer="", trace_id="c" * 32,
                             actions=[Action(kind="choose_skill", title="下一步建议", draft="next_best_action")])
        propose(s, principal, result)
        s.commit()
    r = client.post(f"/v1/actions/{result.actions[0].id}/confirm", json={}, headers=auth("rep_east_1"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "action_not_confirmable"


def test_tasks_are_kept_by_the_schema(runtime: Runtime) -> None:
    """The migration chain creates what the models declare (tasks, proposed actions): nothing to diff."""
    from copilot.store.schema import schema_diff

    assert schema_diff(runtime.engine) == []


def test_a_typed_reply_is_posted_on_a_ticket_the_agent_may_change(
    client: TestClient, auth: Headers, runtime: Runtime
) -> None:
    with runtime.sessions() as s:
        uid = s.scalar(select(User.id).where(User.username == "service_agent_1"))
        ticket = s.scalar(select(Ticket.id).where(Ticket.owner_id == uid).order_by(Ticket.id.desc()))
    assert ticket is not None
    r = client.post(f"/v1/records/ticket/{ticket}/messages", json={"body": "您好，备件已发出，请查收。"},
                    headers=auth("service_agent_1"))
    assert r.status_code == 201, r.text
    messages = client.get(f"/v1/records/ticket/{ticket}", headers=auth("service_agent_1")).json()["related"]["messages"]
    assert messages[-1]["id"] == r.json()["record"]["id"]
    assert messages[-1]["fields"]["body"] == "您好，备件已发出，请查收。"
    # A rep may not see the ticket at all: 404, nothing written.
    before = _count(runtime, TicketMessage, TicketMessage.ticket_id == ticket)
    refused = client.post(f"/v1/records/ticket/{ticket}/messages", json={"body": "x"}, headers=auth("rep_east_1"))
    assert refused.status_code == 404
    assert client.post(f"/v1/records/ticket/{ticket}/messages", json={"body": " "},
                       headers=auth("service_agent_1")).status_code == 422
    assert _count(runtime, TicketMessage, TicketMessage.ticket_id == ticket) == before


def test_concurrent_confirms_write_one_record_and_agree(client: TestClient, auth: Headers, runtime: Runtime) -> None:
    """A double click (or a retry racing the first request): every answer names the one record written."""
    from concurrent.futures import ThreadPoolExecutor

    deal = _own_deal(runtime, "rep_east_2")
    action = next(a for a in _actions(client, auth, "rep_east_2", "next_best_action", "opportunity", deal)
                  if a.get("confirm", {}).get("operation") == "log_activity")
    target = action["confirm"]["object_id"]
    before = _count(runtime, Activity, Activity.opportunity_id == target)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(
            lambda _: client.post(f"/v1/actions/{action['id']}/confirm", json={}, headers=auth("rep_east_2")), range(4)
        ))
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert len({a.json()["record"]["id"] for a in answers}) == 1
    assert _count(runtime, Activity, Activity.opportunity_id == target) == before + 1
