"""The demo organisation: what a user of the demo relies on is there, on every backend, exactly once."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from copilot.core.settings import Settings
from copilot.crm import models as m
from copilot.demo import install
from copilot.demo.generator import DEMO_TODAY, build_demo, load_products
from copilot.demo.install import demo_present, init_demo
from copilot.service.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]


def runtime_for(url: str, tmp: Path) -> Runtime:
    return Runtime(Settings(data_dir=tmp, database_url=url))


@pytest.fixture(scope="module")
def demo(module_backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    rt = runtime_for(module_backend_url, tmp_path_factory.mktemp("demo"))
    result = init_demo(rt, ingest_kb=False)
    assert result.created
    yield rt
    rt.close()


@pytest.fixture()
def session(demo: Runtime) -> Iterator[Session]:
    with demo.sessions() as s:
        yield s


def count(session: Session, model: type[m.Base], *where: object) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


def test_fixed_users_roles_and_departments(session: Session) -> None:
    expected = {
        "admin": ("admin", "hq"), "sales_mgr_east": ("sales_manager", "sales-east"),
        "rep_east_1": ("sales_rep", "sales-east"), "rep_east_2": ("sales_rep", "sales-east"),
        "rep_south_1": ("sales_rep", "sales-south"), "service_mgr": ("service_manager", "service"),
        "service_agent_1": ("service_agent", "service"), "marketer_1": ("marketer", "marketing"),
        "partner_user_1": ("partner", None),
    }
    for username, (role, dept) in expected.items():
        user = session.scalar(select(m.User).where(m.User.username == username))
        assert user is not None, username
        assert [r.name for r in user.roles] == [role]
        assert (user.department.code if user.department else None) == dept
        assert user.display_name
    partner_user = session.scalar(select(m.User).where(m.User.username == "partner_user_1"))
    assert partner_user is not None and partner_user.partner_id is not None
    mgr = session.scalar(select(m.User.id).where(m.User.username == "sales_mgr_east"))
    managed = set(session.scalars(select(m.User.username).where(m.User.manager_id == mgr)))
    assert managed == {"rep_east_1", "rep_east_2"}
    tree = dict(session.execute(select(m.Department.code, m.Department.parent_id)).all())
    ids = dict(session.execute(select(m.Department.id, m.Department.code)).all())
    assert {code: ids.get(parent) if parent else None for code, parent in tree.items()} == {
        "hq": None, "sales": "hq", "sales-east": "sales", "sales-south": "sales", "service": "hq", "marketing": "hq"}
    roles = set(session.scalars(select(m.Role.name)))
    assert {"admin", "sales_manager", "sales_rep", "service_manager", "service_agent", "marketer", "partner"} <= roles


def test_volumes_and_coverage(session: Session) -> None:
    assert count(session, m.Account) >= 40
    assert count(session, m.Opportunity) >= 80
    assert set(session.scalars(select(m.Opportunity.stage).distinct())) == set(m.OPPORTUNITY_STAGES)
    assert count(session, m.Activity) >= 300
    assert set(session.scalars(select(m.Activity.kind).distinct())) == set(m.ACTIVITY_KINDS)
    assert count(session, m.Device) >= 60
    assert count(session, m.Ticket) >= 120
    assert set(session.scalars(select(m.Ticket.status).distinct())) == set(m.TICKET_STATUSES)
    assert set(session.scalars(select(m.Ticket.process_node).distinct())) == set(m.TICKET_NODES)
    assert set(session.scalars(select(m.Ticket.priority).distinct())) == set(m.TICKET_PRIORITIES)
    # every account has at least three contacts
    per_account = Counter(session.scalars(select(m.Contact.account_id)))
    assert len(per_account) == count(session, m.Account) and min(per_account.values()) >= 3
    assert session.scalar(select(m.Account.id).where(m.Account.name.like("华东重工%"))) is not None


def test_business_situations_a_copilot_must_find(session: Session) -> None:
    today = DEMO_TODAY
    # overdue receivables and ones due within a week
    assert count(session, m.Receivable, m.Receivable.due_date < today,
                 m.Receivable.paid_amount < m.Receivable.amount) >= 3
    assert count(session, m.Receivable, m.Receivable.due_date.between(today, today + dt.timedelta(days=7))) >= 1
    # contracts up for renewal within 90 days
    assert count(session, m.Contract, m.Contract.end_date.between(today, today + dt.timedelta(days=90))) >= 2
    # revenue drops (掉档): latest month below half of the month before, for some accounts
    rows = session.execute(select(m.AccountRevenue.account_id, m.AccountRevenue.month, m.AccountRevenue.amount)
                           .order_by(m.AccountRevenue.month)).all()
    series: dict[int, list[float]] = {}
    for account_id, _month, amount in rows:
        series.setdefault(account_id, []).append(float(amount))
    assert min(len(s) for s in series.values()) >= 12
    drops = [a for a, s in series.items() if s[-2] > 0 and s[-1] < 0.5 * s[-2]]
    assert 2 <= len(drops) <= 12
    # stale open deals: no activity for 30+ days
    last_touch = dict(session.execute(select(m.Activity.opportunity_id, func.max(m.Activity.occurred_at))
                                      .group_by(m.Activity.opportunity_id)).all())
    open_ids = session.scalars(select(m.Opportunity.id).where(m.Opportunity.stage.in_(m.OPPORTUNITY_STAGES[:4])))
    cutoff = dt.datetime.combine(today, dt.time()) - dt.timedelta(days=30)
    assert sum(1 for i in open_ids if last_touch.get(i, cutoff) <= cutoff) >= 3
    # deals whose close date has passed while still open; failed dispatches; accounts without a 决策者
    assert count(session, m.Opportunity, m.Opportunity.stage.in_(m.OPPORTUNITY_STAGES[:4]),
                 m.Opportunity.close_date < today) >= 2
    assert count(session, m.Opportunity, m.Opportunity.dispatch_status == "发货失败") >= 1
    with_dm = set(session.scalars(select(m.Contact.account_id).where(m.Contact.decision_role == "决策者")))
    assert count(session, m.Account, m.Account.id.not_in(with_dm)) >= 3
    # warranties ending within 60 days, and expired ones
    assert count(session, m.Device, m.Device.warranty_end.between(today, today + dt.timedelta(days=60))) >= 3
    assert count(session, m.Device, m.Device.warranty_end < today) >= 3
    # open tickets past their SLA, and open tickets still within it
    open_t = m.Ticket.status.in_(("new", "in_progress", "pending_customer"))
    now = dt.datetime.combine(today, dt.time(18))
    assert count(session, m.Ticket, open_t, m.Ticket.sla_due < now) >= 5
    assert count(session, m.Ticket, open_t, m.Ticket.sla_due >= now) >= 5
    # public pool, partner-owned records, related-team members
    assert count(session, m.Account, m.Account.in_public_pool.is_(True)) >= 3
    assert count(session, m.Account, m.Account.partner_id.is_not(None)) >= 3
    assert count(session, m.RecordTeamMember) >= 3
    assert count(session, m.Campaign) >= 5 and count(session, m.CampaignMember) >= 20


def test_records_are_believable(session: Session) -> None:
    mobile = re.compile(r"^1[3-9]\d{9}$")
    for contact in session.scalars(select(m.Contact)):
        assert mobile.match(contact.mobile or ""), contact.mobile
        assert contact.decision_role in ("决策者", "影响者", "技术把关", "采购", "使用者", "财务")
    assert count(session, m.Contact, m.Contact.language == "en") >= 2
    prices = dict(session.execute(select(m.Product.id, m.Product.list_price)).all())
    for opp in session.scalars(select(m.Opportunity)):
        assert opp.product_id is not None
        list_total = prices[opp.product_id] * opp.quantity
        assert list_total * 8 / 10 <= opp.amount <= list_total, opp.name
    codes = {i + 1: {str(c) for c in p["error_codes"]} for i, p in enumerate(load_products())}
    for ticket, product_id in session.execute(
            select(m.Ticket, m.Device.product_id).join(m.Device, m.Device.id == m.Ticket.device_id)):
        assert ticket.error_code in codes[product_id], (ticket.number, ticket.error_code)
    serial = re.compile(r"^[A-Z]{2}\d{1,4}-\d{4}-\d{4}$")
    assert all(serial.match(s) for s in session.scalars(select(m.Device.serial)))
    bodies = list(session.scalars(select(m.Activity.body)))
    assert any("大族" in b or "通快" in b for b in bodies) and any(re.search(r"[A-Za-z]{4,} [a-z]+", b) for b in bodies)
    # each ticket has a conversation with the customer in it
    said = select(m.TicketMessage.ticket_id).where(m.TicketMessage.author_kind == "customer")
    with_customer = set(session.scalars(said))
    assert len(with_customer) == count(session, m.Ticket)
    # receivable schedules add up to the contract amount
    for contract in session.scalars(select(m.Contract)):
        total = session.scalar(select(func.sum(m.Receivable.amount)).where(m.Receivable.contract_id == contract.id))
        assert total == contract.amount, contract.number


def test_generator_is_deterministic() -> None:
    a, b = build_demo(), build_demo()
    for model in (m.Account, m.Opportunity, m.Ticket, m.Activity, m.Receivable):
        assert a.rows[model] == b.rows[model]
    assert build_demo(seed=1).rows[m.Activity] != a.rows[m.Activity]


def test_rerun_is_a_no_op(demo: Runtime, session: Session) -> None:
    before = {t: count(session, t) for t in (m.User, m.Account, m.Opportunity, m.Ticket)}
    result = init_demo(demo, ingest_kb=False)
    assert not result.created
    session.expire_all()
    assert {t: count(session, t) for t in before} == before


def test_failure_mid_way_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = runtime_for(f"sqlite:///{tmp_path / 'crm.sqlite3'}", tmp_path)
    real_load = install.load

    def load_then_fail(session: Session, data: object) -> dict[str, int]:
        real_load(session, data)  # type: ignore[arg-type]
        raise RuntimeError("disk full, say")

    monkeypatch.setattr(install, "load", load_then_fail)
    with pytest.raises(RuntimeError):
        init_demo(rt, ingest_kb=False)
    assert not demo_present(rt.engine)
    with rt.sessions() as s:
        assert count(s, m.Account) == count(s, m.User) == 0
    monkeypatch.setattr(install, "load", real_load)
    assert init_demo(rt, ingest_kb=False).created
    with rt.sessions() as s:
        assert count(s, m.User, m.User.username == "admin") == 1
    rt.close()


def test_reset_rebuilds(tmp_path: Path) -> None:
    rt = runtime_for(f"sqlite:///{tmp_path / 'crm.sqlite3'}", tmp_path)
    init_demo(rt, ingest_kb=False)
    with rt.sessions() as s, s.begin():
        n = count(s, m.Ticket)
        s.execute(delete(m.Ticket))
    assert init_demo(rt, reset=True, ingest_kb=False).created
    with rt.sessions() as s:
        assert count(s, m.Ticket) == n
    rt.close()


def _cli(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **env_extra}
    return subprocess.run([sys.executable, "-m", "copilot.cli.main", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=180)


@pytest.mark.parametrize("url, words", [
    ("postgresql+psycopg://nobody@127.0.0.1:1/nothing", "cannot connect to the database"),
    ("oracle://scott@localhost/x", "not supported"),
    ("this is not a url", "not a valid"),
])
def test_bad_database_url_is_one_clear_line(url: str, words: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from copilot.cli import demo as demo_cli
    from copilot.cli.main import app

    monkeypatch.setattr(demo_cli, "runtime", lambda: runtime_for(url, tmp_path))
    result = CliRunner().invoke(app, ["demo", "init", "--no-kb"])
    assert result.exit_code == 2
    assert words in " ".join(result.stderr.split())  # rich may wrap long lines
    assert "Traceback" not in result.stderr


def test_cli_init_then_init_again(tmp_path: Path) -> None:
    env = {"CRM_COPILOT_DATA_DIR": str(tmp_path), "CRM_COPILOT_DATABASE_URL": ""}
    first = _cli(env, "demo", "init", "--no-kb")
    assert first.returncode == 0, first.stderr
    assert "demo loaded" in first.stderr
    second = _cli(env, "demo", "init", "--no-kb")
    assert second.returncode == 0
    assert "already present" in second.stderr
