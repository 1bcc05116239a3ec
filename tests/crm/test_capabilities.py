"""The capabilities in the policy (copilot.crm.permissions), for every demo user, written out by hand.

Expected values come from api.md and the skill definitions (skills/defs/*.yaml required_roles), not from
the functions under test: a change of who may do what must show up here as a changed row.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from copilot.crm.permissions import may_read_prompts, may_render_prompt, may_use_skill, may_write_knowledge_base
from copilot.crm.principal import Principal
from skills.base import load_specs

# skill → who may run it (api.md roles; defs: marketing_copy marketers, NBA sales, service skills service).
RUNS: dict[str, set[str]] = {
    "record_qa": {"admin", "sales_mgr_east", "rep_east_1", "rep_east_2", "rep_south_1", "service_mgr",
                  "service_agent_1", "marketer_1", "partner_user_1"},
    "ticket_lookup": {"admin", "sales_mgr_east", "rep_east_1", "rep_east_2", "rep_south_1", "service_mgr",
                      "service_agent_1", "marketer_1", "partner_user_1"},
    "record_lookup": {"admin", "sales_mgr_east", "rep_east_1", "rep_east_2", "rep_south_1", "service_mgr",
                      "service_agent_1", "marketer_1", "partner_user_1"},
    "next_best_action": {"admin", "sales_mgr_east", "rep_east_1", "rep_east_2", "rep_south_1"},
    "marketing_copy": {"admin", "marketer_1"},
    "troubleshoot": {"admin", "service_mgr", "service_agent_1"},
    "reply_suggestion": {"admin", "service_mgr", "service_agent_1"},
}  # fmt: skip
USERS = sorted(RUNS["record_qa"])


@pytest.mark.parametrize("username", USERS)
def test_who_may_run_which_skill(principal_for: Callable[[str], Principal], username: str) -> None:
    principal = principal_for(username)
    specs = load_specs()
    assert set(RUNS) <= set(specs)
    for skill, users in RUNS.items():
        assert may_use_skill(principal, specs[skill].required_roles) == (username in users), skill
        assert specs[skill].allowed(principal) == (username in users), skill  # SkillSpec delegates


@pytest.mark.parametrize("username", USERS)
def test_prompts_are_for_employees_and_the_kb_for_its_writers(
    principal_for: Callable[[str], Principal], username: str
) -> None:
    principal = principal_for(username)
    assert may_read_prompts(principal) == (username != "partner_user_1")
    assert may_write_knowledge_base(principal) == (username == "admin")
    specs = load_specs()
    for skill, users in RUNS.items():
        expected = username in users and username != "partner_user_1"
        assert may_render_prompt(principal, specs[skill].required_roles) == expected, skill


def test_a_knowledge_manager_writes_the_kb_without_being_admin() -> None:
    km = Principal(user_id=9, username="km", roles=frozenset({"knowledge_manager"}))
    assert may_write_knowledge_base(km)
    assert not may_use_skill(km, ["marketer"]) and may_use_skill(km, [])


def test_a_principal_without_roles_may_do_nothing() -> None:
    nobody = Principal(user_id=9, username="nobody")
    assert not may_use_skill(nobody, [])
    assert not may_read_prompts(nobody) and not may_render_prompt(nobody)
    assert not may_write_knowledge_base(nobody)


def test_one_role_name_is_not_a_list_of_letters() -> None:
    # "marketer" as a string would otherwise be the set {"m", "a", ...}: refuse it loudly.
    with pytest.raises(TypeError):
        may_use_skill(Principal(user_id=1, username="m", roles=frozenset({"m"})), "marketer")
