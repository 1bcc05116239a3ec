"""Every skill × every demo user × (a record they can see, one they cannot), via /v1/skills/{name}/invoke.

Expected: 200 when the user's roles allow the skill, 403 when they do not, 404 (or 403) for a record
they cannot see — checked before the skill runs, so the skill's own role list does not matter there.
The required roles come from the skill declarations (skills/defs), which are the contract.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from copilot.service.runtime import Runtime
from skills.base import load_specs
from tests.api.conftest import DEMO_USERS, Record, RecordPlan

SPECS = load_specs()
ROLES = {
    "admin": {"admin"},
    "sales_mgr_east": {"sales_manager"},
    "rep_east_1": {"sales_rep"},
    "rep_east_2": {"sales_rep"},
    "rep_south_1": {"sales_rep"},
    "service_mgr": {"service_manager"},
    "service_agent_1": {"service_agent"},
    "marketer_1": {"marketer"},
    "partner_user_1": {"partner"},
}


def expected_status(skill: str, user: str) -> int:
    spec = SPECS[skill]
    allowed = "admin" in ROLES[user] or not spec.required_roles or bool(set(spec.required_roles) & ROLES[user])
    return 200 if allowed else 403


def _record_for(runtime: Runtime, user: str, skill: str, plan: RecordPlan) -> Record | None:
    """A record of a type the skill serves that the user can see (the page the skill would live on)."""
    types = SPECS[skill].object_types
    if not types:
        return None  # page-less skill (ticket_lookup)
    if plan.visible.object_type in types or expected_status(skill, user) == 403:
        return plan.visible
    from copilot.crm.permissions import visible_select
    from copilot.crm.principal import load_principal

    with runtime.sessions() as session:
        principal = load_principal(session, user)
        for object_type in types:
            row = session.scalars(visible_select(principal, object_type).limit(1)).first()
            if row is not None:
                text = getattr(row, "name", None) or getattr(row, "number", None) or str(row.id)
                return Record(object_type, row.id, str(text))
    pytest.skip(f"{user} can see no {'/'.join(types)} record in the demo")


def _message(skill: str) -> str:
    return SPECS[skill].examples.get("zh", ["帮我看一下"])[0]


@pytest.mark.parametrize("user", DEMO_USERS)
@pytest.mark.parametrize("skill", sorted(SPECS))
def test_skill_on_a_visible_record(
    skill: str,
    user: str,
    client: TestClient,
    auth: Callable[[str], dict[str, str]],
    records: dict[str, RecordPlan],
    demo_runtime: Runtime,
) -> None:
    record = _record_for(demo_runtime, user, skill, records[user])
    body: dict = {"message": _message(skill), "input": {}}
    if record is not None:
        body["context"] = record.context
    response = client.post(f"/v1/skills/{skill}/invoke", json=body, headers=auth(user))
    assert response.status_code == expected_status(skill, user), response.text
    if response.status_code == 200:
        result = response.json()
        assert result["skill"] == skill and result["answer"]
    else:
        assert response.json()["error"]["code"] == "forbidden"
    invisible = records[user].invisible
    if invisible is not None:
        assert invisible.text not in response.text


@pytest.mark.parametrize("user", [u for u in DEMO_USERS if u != "admin"])
@pytest.mark.parametrize("skill", sorted(SPECS))
def test_skill_on_an_invisible_record(
    skill: str, user: str, client: TestClient, auth: Callable[[str], dict[str, str]], records: dict[str, RecordPlan]
) -> None:
    invisible = records[user].invisible
    assert invisible is not None
    body = {"message": _message(skill), "input": {}, "context": invisible.context}
    response = client.post(f"/v1/skills/{skill}/invoke", json=body, headers=auth(user))
    assert response.status_code in (403, 404), response.text
    assert invisible.text not in response.text
