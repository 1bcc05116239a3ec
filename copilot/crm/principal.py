"""Who is asking: a user resolved once into everything the permission policy needs.

Loading does the graph work (manager chain, department subtrees, matching sharing rules) so that
turning a Principal into SQL predicates is pure and cheap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from copilot.core.errors import NotFound
from copilot.crm.models import (
    Department,
    DepartmentHead,
    FieldPermission,
    ObjectSetting,
    Role,
    SharingRule,
    TeamMember,
    User,
    UserRole,
)

ACCESS_LEVELS = ("private", "public_read", "public_read_write")

# What an object type gets when ObjectSetting has no row for it.
DEFAULT_OBJECT_ACCESS: dict[str, str] = {
    "account": "private",
    "contact": "private",
    "lead": "private",
    "opportunity": "private",
    "activity": "private",
    "device": "public_read",
    "ticket": "private",
    "contract": "private",
    "campaign": "public_read",
    "task": "private",
}


@dataclass(frozen=True)
class Grant:
    """One sharing rule as it applies to this principal."""

    object_type: str
    access: str  # read | read_write
    source_department_ids: frozenset[int] | None = None
    condition: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    display_name: str = ""
    roles: frozenset[str] = frozenset()
    department_id: int | None = None
    department_code: str | None = None
    # Own department first, then its parents up to the root.
    ancestor_department_ids: tuple[int, ...] = ()
    ancestor_department_codes: tuple[str, ...] = ()
    # Everyone below this user in the line-manager chain (not the user).
    subordinate_ids: frozenset[int] = frozenset()
    # Departments this user heads (or assists), with all their sub-departments.
    headed_department_ids: frozenset[int] = frozenset()
    team_ids: frozenset[int] = frozenset()
    partner_id: int | None = None
    grants: tuple[Grant, ...] = ()
    object_defaults: Mapping[str, str] = field(default_factory=dict)
    # The deployment's FieldPermission rows for the user's roles, as (role, object type, field): each takes
    # a field granted by copilot/crm/field_access.yaml away from that role again (see permissions.mask).
    field_denials: frozenset[tuple[str, str, str]] = frozenset()
    locale: str = "zh"

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_partner(self) -> bool:
        return self.partner_id is not None

    @property
    def chain_ids(self) -> frozenset[int]:
        """The user and everyone they manage: whose records they hold as if their own."""
        return self.subordinate_ids | {self.user_id}


def _subtree(dept_id: int, children: Mapping[int, list[int]]) -> set[int]:
    out, stack = set(), [dept_id]
    while stack:
        d = stack.pop()
        if d not in out:
            out.add(d)
            stack.extend(children.get(d, ()))
    return out


def load_principal(session: Session, username: str) -> Principal:
    user = session.scalar(select(User).where(User.username == username, User.is_active.is_(True)))
    if user is None:
        raise NotFound(f"unknown user {username!r}")
    return principal_for_user(session, user)


def principal_for_user(session: Session, user: User) -> Principal:
    depts = session.execute(select(Department.id, Department.parent_id, Department.code)).all()
    parent = {d.id: d.parent_id for d in depts}
    code = {d.id: d.code for d in depts}
    children: dict[int, list[int]] = defaultdict(list)
    for d in depts:
        if d.parent_id is not None:
            children[d.parent_id].append(d.id)

    ancestors: list[int] = []
    cur = user.department_id
    while cur is not None and cur not in ancestors:
        ancestors.append(cur)
        cur = parent.get(cur)

    roles = frozenset(
        session.scalars(
            select(Role.name).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == user.id)
        )
    )

    # Line-manager chain, downwards. One query for the edges, then a walk in memory.
    reports: dict[int, list[int]] = defaultdict(list)
    for uid, mid in session.execute(select(User.id, User.manager_id).where(User.manager_id.is_not(None))):
        if mid is not None:
            reports[mid].append(uid)
    subordinates: set[int] = set()
    stack = list(reports.get(user.id, ()))
    while stack:
        u = stack.pop()
        if u not in subordinates and u != user.id:
            subordinates.add(u)
            stack.extend(reports.get(u, ()))

    headed: set[int] = set()
    for dept_id in session.scalars(select(DepartmentHead.department_id).where(DepartmentHead.user_id == user.id)):
        headed |= _subtree(dept_id, children)

    team_ids = frozenset(session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user.id)))

    grants: list[Grant] = []
    if user.partner_id is None:
        for rule in session.scalars(select(SharingRule)):
            if not _targets(rule, user.id, roles, set(ancestors), team_ids):
                continue
            if rule.source_kind == "department" and rule.source_department_id is not None:
                grants.append(
                    Grant(rule.object_type, rule.access, frozenset(_subtree(rule.source_department_id, children)))
                )
            elif rule.source_kind == "condition" and rule.condition:
                grants.append(Grant(rule.object_type, rule.access, condition=dict(rule.condition)))

    object_defaults = dict(DEFAULT_OBJECT_ACCESS)
    object_defaults.update({s.object_type: s.default_access for s in session.scalars(select(ObjectSetting))})

    denials: frozenset[tuple[str, str, str]] = frozenset()
    if roles:
        rows = session.execute(
            select(FieldPermission.role, FieldPermission.object_type, FieldPermission.field).where(
                FieldPermission.role.in_(roles)
            )
        )
        denials = frozenset((str(r), str(t), str(f)) for r, t, f in rows)

    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles=roles,
        department_id=user.department_id,
        department_code=code.get(user.department_id) if user.department_id else None,
        ancestor_department_ids=tuple(ancestors),
        ancestor_department_codes=tuple(code[d] for d in ancestors),
        subordinate_ids=frozenset(subordinates),
        headed_department_ids=frozenset(headed),
        team_ids=team_ids,
        partner_id=user.partner_id,
        grants=tuple(grants),
        object_defaults=object_defaults,
        field_denials=denials,
        locale=user.locale,
    )


def _targets(rule: SharingRule, user_id: int, roles: frozenset[str], depts: set[int], teams: frozenset[int]) -> bool:
    if rule.target_kind == "role":
        return rule.target_role in roles
    if rule.target_kind == "department":
        # Members of the target department and of its sub-departments.
        return rule.target_department_id in depts
    if rule.target_kind == "user":
        return rule.target_user_id == user_id
    if rule.target_kind == "team":
        return rule.target_team_id in teams
    return False
