"""Knowledge-base ACL tokens against the api.md rules, for random principals and documents.

public: everyone, partner users included. internal: every employee, no partner user. restricted:
the listed roles, or members of the listed departments or their sub-departments (an empty list:
admins only). admin reads everything; a principal with no roles reads nothing; an unknown
visibility is an error.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copilot.core.errors import BadRequest
from copilot.crm.permissions import (
    ACL_EVERYTHING,
    ACL_NOTHING,
    AclScope,
    acl_match,
    acl_scope,
    document_acl_tokens,
    may_read_document,
    scope_of_tokens,
)
from copilot.crm.principal import Principal

ROLES = ("admin", "sales_rep", "service_agent", "knowledge_manager", "finance")
# A department tree by code: child → parent.
PARENT = {"hq": None, "sales": "hq", "east": "sales", "east1": "east", "service": "hq", "field": "service"}


def chain(code: str | None) -> tuple[str, ...]:
    out: list[str] = []
    while code is not None:
        out.append(code)
        code = PARENT[code]
    return tuple(out)


@st.composite
def principals(draw: st.DrawFn) -> Principal:
    department = draw(st.none() | st.sampled_from(sorted(PARENT)))
    return Principal(
        user_id=1,
        username="u",
        roles=frozenset(draw(st.sets(st.sampled_from(ROLES), max_size=3))),
        department_code=department,
        ancestor_department_codes=chain(department),
        ancestor_department_ids=tuple(range(len(chain(department)))),
        partner_id=draw(st.none() | st.just(7)),
    )


def expected(p: Principal, visibility: str, roles: set[str], departments: set[str]) -> bool:
    """api.md, literally."""
    if not p.roles:
        return False
    if "admin" in p.roles:
        return True
    if visibility == "public":
        return True
    if p.partner_id is not None:
        return False
    if visibility == "internal":
        return True
    in_listed_department = any(d in departments for d in chain(p.department_code))
    return bool(p.roles & roles) or in_listed_department


def test_may_read_document_follows_the_api_rules() -> None:
    outcomes: Counter[tuple[str, bool]] = Counter()

    @settings(max_examples=400, deadline=None, database=None)
    @given(
        p=principals(),
        visibility=st.sampled_from(["public", "internal", "restricted"]),
        roles=st.sets(st.sampled_from(ROLES), max_size=2),
        departments=st.sets(st.sampled_from(sorted(PARENT)), max_size=2),
    )
    def check(p: Principal, visibility: str, roles: set[str], departments: set[str]) -> None:
        tokens = document_acl_tokens(visibility, roles, departments)
        want = expected(p, visibility, roles, departments)
        assert may_read_document(p, tokens) == want
        outcomes[(visibility, want)] += 1

    check()
    # Not vacuous: every visibility was both granted and refused many times.
    for visibility in ("public", "internal", "restricted"):
        for want in (True, False):
            assert outcomes[(visibility, want)] >= 10, (visibility, want, outcomes)


def test_hand_picked_cases() -> None:
    employee = Principal(1, "a", roles=frozenset({"sales_rep"}), department_code="east1",
                         ancestor_department_codes=chain("east1"))  # fmt: skip
    partner = Principal(2, "d", roles=frozenset({"sales_rep"}), partner_id=7)
    assert may_read_document(employee, document_acl_tokens("restricted", [], ["sales"]))  # a parent department
    assert not may_read_document(employee, document_acl_tokens("restricted", ["finance"], ["east1x"]))
    assert may_read_document(employee, document_acl_tokens("restricted", ["sales_rep"], []))
    assert may_read_document(partner, document_acl_tokens("public"))
    assert not may_read_document(partner, document_acl_tokens("internal"))
    assert not may_read_document(partner, document_acl_tokens("restricted", ["sales_rep"]))


def test_a_department_does_not_reach_its_parent_or_its_siblings() -> None:
    member = Principal(1, "a", roles=frozenset({"sales_rep"}), department_code="sales",
                       ancestor_department_codes=chain("sales"))  # fmt: skip
    assert not may_read_document(member, document_acl_tokens("restricted", [], ["east"]))  # a sub-department
    assert not may_read_document(member, document_acl_tokens("restricted", [], ["service"]))  # a sibling


def test_restricted_with_empty_lists_is_for_admins_only() -> None:
    tokens = document_acl_tokens("restricted")
    assert tokens == frozenset()
    assert may_read_document(Principal(1, "root", roles=frozenset({"admin"})), tokens)
    for roles in ROLES[1:]:
        assert not may_read_document(Principal(1, "u", roles=frozenset({roles}), department_code="hq",
                                               ancestor_department_codes=("hq",)), tokens)  # fmt: skip


def test_a_principal_with_no_roles_reads_nothing_even_public() -> None:
    nobody = Principal(1, "nobody", department_code="hq", ancestor_department_codes=("hq",))
    assert acl_scope(nobody) == ACL_NOTHING
    assert not may_read_document(nobody, document_acl_tokens("public"))


def test_an_admins_scope_is_an_explicit_everything() -> None:
    scope = acl_scope(Principal(1, "root", roles=frozenset({"admin"}), partner_id=7))
    assert scope is ACL_EVERYTHING and scope.everything and scope.tokens == frozenset()
    assert acl_match(scope, frozenset())  # even a document nobody else may read


def test_an_employees_scope_lists_their_tokens() -> None:
    rep = Principal(1, "a", roles=frozenset({"sales_rep"}), department_code="east",
                    ancestor_department_codes=chain("east"))  # fmt: skip
    scope = acl_scope(rep)
    assert not scope.everything
    assert scope.tokens == {"public", "internal", "role:sales_rep", "dept:east", "dept:sales", "dept:hq"}


def test_no_scope_is_not_a_scope() -> None:
    """``None`` used to mean "no filter"; now anything but a policy-built AclScope is a TypeError."""
    for not_a_scope in (None, frozenset({"public"}), {"public"}, "public", True):
        with pytest.raises(TypeError):
            acl_match(not_a_scope, {"public"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"built by copilot\.crm\.permissions"):
        AclScope(True, frozenset())
    with pytest.raises(TypeError):
        scope_of_tokens("public")  # one string is not a set of tokens
    with pytest.raises(TypeError):
        acl_match(ACL_NOTHING, "public")  # nor is a document's token


@given(st.sets(st.sampled_from(("public", "internal", "role:x", "dept:y", "z")), max_size=4),
       st.sets(st.sampled_from(("public", "internal", "role:x", "dept:y", "z")), max_size=4))  # fmt: skip
def test_acl_match_is_token_intersection(reader: set[str], document: set[str]) -> None:
    assert acl_match(scope_of_tokens(reader), document) == bool(reader & document)
    assert acl_match(ACL_EVERYTHING, document)
    assert not acl_match(ACL_NOTHING, document)


@pytest.mark.parametrize("visibility", ["Public", "private", "", "confidential", "internal "])
def test_an_unknown_visibility_is_an_error(visibility: str) -> None:
    with pytest.raises(BadRequest, match="unknown visibility"):
        document_acl_tokens(visibility, ["sales_rep"], ["hq"])


def test_role_and_department_tokens_cannot_collide() -> None:
    # A department coded like a role, or the words public/internal as names, grant nothing extra.
    rep = Principal(1, "a", roles=frozenset({"sales_rep"}), department_code="hq", ancestor_department_codes=("hq",))
    assert not may_read_document(rep, document_acl_tokens("restricted", [], ["sales_rep"]))
    assert not may_read_document(rep, document_acl_tokens("restricted", ["hq"], []))
    assert not may_read_document(rep, document_acl_tokens("restricted", ["public", "internal"], ["public"]))
