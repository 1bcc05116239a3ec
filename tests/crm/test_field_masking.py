"""Field-level security as an allow-list per role (copilot/crm/field_access.yaml).

What each demo role may not see is written out by hand below (api.md personas: service never sees what
a deal, contract or payment is worth; marketing sees no contract values or margins; partners never see
our margin). A column the allow-list does not name is seen by admins only, and the deployment's
FieldPermission rows take a granted field away from one role again. A field is visible when any of the
user's roles sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from copilot.core.errors import ConfigError
from copilot.crm import permissions
from copilot.crm.db import make_engine
from copilot.crm.models import CATALOG_TYPES, CHILD_TYPES, OWNED_TYPES, Base, User
from copilot.crm.permissions import hidden_fields, mask, model_for, visible_fields
from copilot.crm.principal import Principal, principal_for_user
from tests.crm.oracle import clear_tables, insert_rows

OBJECT_TYPES = sorted({*OWNED_TYPES, *CATALOG_TYPES, *CHILD_TYPES})
MONEY_FOR_SERVICE = {"contract": {"amount", "margin"}, "receivable": {"amount", "paid_amount"},
                     "opportunity": {"amount"}}  # fmt: skip
# role → object type → the fields it may not see (anything not named here: every field visible).
HIDDEN_TODAY: dict[str, dict[str, set[str]]] = {
    "sales_manager": {},
    "sales_rep": {},
    "knowledge_manager": {},
    "service_manager": MONEY_FOR_SERVICE,
    "service_agent": MONEY_FOR_SERVICE,
    "marketer": {"contract": {"amount", "margin"}},
    "partner": {"contract": {"margin"}},
}
CONTRACT = {"id": 1, "number": "C1", "amount": 300000, "margin": 32.5, "payment_terms": "3-6-1"}
RECEIVABLE = {"id": 1, "contract_id": 1, "amount": 90000, "paid_amount": 0, "milestone": "预付款"}


def one_role(role: str) -> Principal:
    return Principal(user_id=1, username=role, roles=frozenset({role}))


def columns(object_type: str) -> set[str]:
    return {c.key for c in model_for(object_type).__table__.columns}


@pytest.mark.parametrize("role", sorted(HIDDEN_TODAY))
def test_each_demo_role_sees_what_it_saw_before_the_allow_list(role: str) -> None:
    principal = one_role(role)
    for object_type in OBJECT_TYPES:
        hidden = HIDDEN_TODAY[role].get(object_type, set())
        assert hidden_fields(principal, object_type) == hidden, object_type
        assert visible_fields(principal, object_type) == columns(object_type) - hidden, object_type


@pytest.mark.parametrize(
    "username", ["sales_mgr_east", "rep_east_1", "service_mgr", "service_agent_1", "marketer_1", "partner_user_1"]
)
def test_demo_users_loaded_from_the_database_agree(principal_for: Callable[[str], Principal], username: str) -> None:
    principal = principal_for(username)
    for object_type in OBJECT_TYPES:
        expected = set().union(*(HIDDEN_TODAY[r].get(object_type, set()) for r in principal.roles))
        if len(principal.roles) > 1:  # hidden only when hidden from every one of the user's roles
            expected = set.intersection(*(HIDDEN_TODAY[r].get(object_type, set()) for r in principal.roles))
        assert hidden_fields(principal, object_type) == expected, (username, object_type)


def test_a_column_the_allow_list_does_not_name_is_for_admins_only() -> None:
    """A new column (here: a key no group grants) never leaves ``mask`` for a non-admin role."""
    record = {**CONTRACT, "discount_reason": "老客户返点"}
    for role in HIDDEN_TODAY:
        assert "discount_reason" not in mask(one_role(role), "contract", record), role
    assert mask(one_role("admin"), "contract", record) == record


def test_a_role_the_allow_list_does_not_name_sees_no_field() -> None:
    for role in ("finance", "auditor", ""):
        assert mask(one_role(role), "contract", CONTRACT) == {}
        assert visible_fields(one_role(role), "account") == frozenset()
    assert mask(Principal(user_id=1, username="nobody"), "contract", CONTRACT) == {}


def test_every_granted_column_exists_and_unknown_types_show_nothing() -> None:
    for object_type in OBJECT_TYPES:
        assert visible_fields(one_role("sales_rep"), object_type) <= columns(object_type)
    assert visible_fields(one_role("sales_rep"), "no_such_type") == frozenset()
    assert mask(one_role("sales_rep"), "no_such_type", {"id": 1}) == {}


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("groups:\n  contract:\n    basic: [id, discount]\nroles: {}\n", "no column 'discount'"),
        ("groups:\n  invoice:\n    basic: [id]\nroles: {}\n", "unknown object type 'invoice'"),
        ("groups:\n  contract:\n    basic: [id]\nroles:\n  sales_rep: [contract.money]\n", "unknown group"),
        ("groups:\n  contract:\n    basic: [id]\nroles:\n  sales_rep: [money]\n", "unknown group"),
    ],
)
def test_a_broken_allow_list_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, yaml_text: str, message: str
) -> None:
    path = tmp_path / "field_access.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    monkeypatch.setattr(permissions, "FIELD_ACCESS_PATH", path)
    permissions._field_access.cache_clear()
    try:
        with pytest.raises(ConfigError, match=message):
            permissions._field_access()
    finally:
        monkeypatch.undo()
        permissions._field_access.cache_clear()
        permissions._visible_fields.cache_clear()


# --- with the deployment's FieldPermission rows, on a real database -----------------------------------

ROLES = ["admin", "sales_rep", "service_agent", "marketer", "finance"]


@pytest.fixture(scope="module")
def engine(module_backend_url: str) -> Iterator[Engine]:
    if module_backend_url.startswith("mysql"):
        pytest.skip("field masking is backend-independent beyond loading; sqlite and postgresql suffice")
    eng = make_engine(module_backend_url)
    Base.metadata.create_all(eng)
    users = {"agent": ["service_agent"], "rep": ["sales_rep"], "agent_marketer": ["service_agent", "marketer"]}
    users |= {"admin_agent": ["admin", "service_agent"], "rep_finance": ["sales_rep", "finance"], "nobody": []}
    rows: dict[str, list[dict[str, Any]]] = {
        "roles": [{"id": i, "name": r} for i, r in enumerate(ROLES, 1)],
        "users": [{"id": i, "username": n, "display_name": n} for i, n in enumerate(users, 1)],
        "user_roles": [
            {"user_id": i, "role_id": ROLES.index(r) + 1} for i, roles in enumerate(users.values(), 1) for r in roles
        ],
        "field_permissions": [
            {"role": "sales_rep", "object_type": "account", "field": "credit_limit"},
            {"role": "marketer", "object_type": "receivable", "field": "paid_amount"},
            {"role": "finance", "object_type": "contract", "field": "number"},  # finance is granted nothing anyway
        ],
    }
    with eng.begin() as conn:
        clear_tables(conn)
        insert_rows(conn, rows)
    yield eng
    eng.dispose()


def principal(engine: Engine, username: str) -> Principal:
    with Session(engine) as session:
        return principal_for_user(session, session.scalars(select(User).where(User.username == username)).one())


def test_a_service_agent_never_sees_contract_amounts_or_margins(engine: Engine) -> None:
    agent = principal(engine, "agent")
    assert mask(agent, "contract", CONTRACT) == {"id": 1, "number": "C1", "payment_terms": "3-6-1"}
    assert mask(agent, "receivable", RECEIVABLE) == {"id": 1, "contract_id": 1, "milestone": "预付款"}


def test_a_deployment_row_takes_a_granted_field_away_from_that_role(engine: Engine) -> None:
    rep = principal(engine, "rep")
    assert mask(rep, "contract", CONTRACT) == CONTRACT
    assert mask(rep, "account", {"id": 1, "credit_limit": 5, "name": "甲"}) == {"id": 1, "name": "甲"}
    assert hidden_fields(one_role("sales_rep"), "account") == frozenset()  # the row, not the allow-list


def test_a_field_is_visible_when_any_of_the_users_roles_sees_it(engine: Engine) -> None:
    both = principal(engine, "agent_marketer")  # agent: no money; marketer: payments but not paid_amount here
    assert mask(both, "receivable", RECEIVABLE) == {k: v for k, v in RECEIVABLE.items() if k != "paid_amount"}
    assert mask(both, "contract", CONTRACT) == {"id": 1, "number": "C1", "payment_terms": "3-6-1"}
    assert mask(principal(engine, "rep_finance"), "contract", CONTRACT) == CONTRACT  # rep's grant is enough


def test_an_admin_sees_every_field_even_with_a_hiding_role(engine: Engine) -> None:
    admin = principal(engine, "admin_agent")
    assert mask(admin, "contract", CONTRACT) == CONTRACT
    assert mask(admin, "receivable", RECEIVABLE) == RECEIVABLE


def test_masking_returns_a_copy(engine: Engine) -> None:
    agent = principal(engine, "agent")
    data = dict(CONTRACT)
    mask(agent, "contract", data)
    assert data == CONTRACT and mask(principal(engine, "admin_agent"), "contract", data) is not data


def test_a_principal_with_no_roles_sees_no_field(engine: Engine) -> None:
    nobody = principal(engine, "nobody")
    assert nobody.roles == frozenset() and mask(nobody, "contract", CONTRACT) == {}
