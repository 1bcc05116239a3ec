"""The record repository skills read the CRM through: every query it runs carries the principal's read
predicate, so a skill has no way to ask for a row the asker may not see.

Skills never get a ``Session``; they get a ``Records`` bound to one principal. Callers pass extra
``WHERE`` clauses and orderings on the object's own columns; the repository adds the permission
predicate (``copilot.crm.permissions.read_filter``) itself. Sub-selects a skill needs (tickets whose
device is of product X) come from ``visible_ids``, which is filtered the same way, so even a filter
cannot probe rows the asker may not read. Results are bounded (``MAX_ROWS``): no skill query is
unbounded in cost.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from copilot.crm.models import User
from copilot.crm.permissions import (
    READ,
    VISIBLE_IDS_LABEL,
    WRITE,
    can,
    check_query_parts,
    get_visible,
    hidden_fields,
    model_for,
    page_select,
    read_filter,
    visible_dict,
)
from copilot.crm.principal import Principal

MAX_ROWS = 1000


class Records:
    """What one principal may read from the CRM. Bound at the start of a turn; never widened."""

    __slots__ = ("__principal", "__session")

    def __init__(self, session: Session, principal: Principal) -> None:
        self.__session = session
        self.__principal = principal

    @property
    def principal(self) -> Principal:
        return self.__principal

    # --- single records ----------------------------------------------------------------------

    def get(self, object_type: str, record_id: int) -> Any:
        """The record, or NotFound (404) when it is missing *or* invisible: the two look the same."""
        with self._reader() as reader:
            row = get_visible(reader, self.__principal, object_type, record_id)
        return self._blanked([row], object_type)[0]

    def find(self, object_type: str, record_id: int | None) -> Any | None:
        """The record, or None when missing or invisible."""
        if record_id is None:
            return None
        model: Any = model_for(object_type)
        rows = self.list(object_type, model.id == record_id, limit=1)
        return rows[0] if rows else None

    def may_write(self, object_type: str, record_id: int) -> bool:
        return can(self.__session, self.__principal, object_type, record_id, WRITE)

    def may_read(self, object_type: str, record_id: int) -> bool:
        return can(self.__session, self.__principal, object_type, record_id, READ)

    # --- many records ------------------------------------------------------------------------

    def _select(self, object_type: str, what: Sequence[Any], where: Iterable[Any]) -> Select[Any]:
        where = builtins.list(where)
        # Own columns the principal may see, other records only through visible_ids (the policy decides).
        check_query_parts(self.__principal, object_type, [*what, *where])
        return select(*what).where(read_filter(self.__principal, object_type), *where)

    def list(
        self,
        object_type: str,
        *where: ColumnElement[bool],
        order_by: Any = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[Any]:
        """Records of ``object_type`` matching ``where``, among those the principal may read."""
        model = model_for(object_type)
        check_query_parts(self.__principal, object_type, [*where, *_parts(order_by)])
        if order_by is not None and limit is not None:
            # A manager's "newest n" has its own plan, same rows (permissions.page_select).
            page = page_select(
                self.__session, self.__principal, object_type, where, order_by, _bounded(limit), max(0, offset)
            )
            if page is not None:
                rows = self._loaded(page.statement, page.params)  # tested before any field is blanked
                admitted = page.admitted(self.__session, rows)
                if len(admitted) == len(rows):
                    return self._blanked(admitted, object_type)
                # A stale closure (a change it was not told about): never its rows, the other plans.
                page = page_select(
                    self.__session, self.__principal, object_type, where, order_by, _bounded(limit), max(0, offset),
                    closure=False,
                )
                if page is not None:
                    return self._detached(page.statement, object_type, page.params)
        stmt = self._select(object_type, [model], where)
        stmt = _order(stmt, order_by).offset(max(0, offset)).limit(_bounded(limit))
        return self._detached(stmt, object_type)

    def first(self, object_type: str, *where: ColumnElement[bool], order_by: Any = None) -> Any | None:
        rows = self.list(object_type, *where, order_by=order_by, limit=1)
        return rows[0] if rows else None

    def count(self, object_type: str, *where: ColumnElement[bool]) -> int:
        stmt = self._select(object_type, [func.count()], where).select_from(model_for(object_type))
        return int(self.__session.scalar(stmt) or 0)

    def rows(
        self,
        object_type: str,
        *columns: Any,
        where: Iterable[ColumnElement[bool]] = (),
        order_by: Any = None,
        limit: int | None = None,
        group_by: Sequence[Any] = (),
    ) -> builtins.list[tuple[Any, ...]]:
        """Selected columns (of this object's table) of the visible records, as tuples. ``group_by``: for
        aggregates over visible rows only (the last activity per deal)."""
        check_query_parts(self.__principal, object_type, [*_parts(order_by), *group_by])
        stmt = self._select(object_type, list(columns), where)
        if group_by:
            stmt = stmt.group_by(*group_by)
        stmt = _order(stmt, order_by).limit(_bounded(limit))
        return [tuple(r) for r in self.__session.execute(stmt)]

    def visible_ids(self, object_type: str, *where: ColumnElement[bool]) -> Select[Any]:
        """``SELECT id`` of the visible records matching ``where``: for ``column.in_(...)`` filters."""
        model: Any = model_for(object_type)
        return self._select(object_type, [model.id.label(VISIBLE_IDS_LABEL)], where)

    def masked(self, object_type: str, record: Any) -> dict[str, Any]:
        """The record's fields that field-level security lets this principal see."""
        return visible_dict(self.__principal, object_type, record)

    def _reader(self) -> Session:
        """A Session of its own on the request's connection (so in its transaction, seeing its writes),
        that loads rows and is closed at once: closing detaches them all in one go.

        Rows are handed out detached: an ORM instance leads back to its Session (``object_session(row)``),
        and a Session runs any query at all. Expunging 50 rows one by one from the request's Session cost
        ~200 us (~4 us a row, cascade walks), as much as the query itself; a reader Session costs ~10 us,
        and leaves the request's own instances of the same rows (if it holds any) in place."""
        session = self.__session
        if session.autoflush:
            session.flush()  # what the request's Session would have done before running this query
        return Session(bind=session.connection(), autoflush=False, expire_on_commit=False)

    def _detached(
        self, stmt: Select[Any], object_type: str, params: dict[str, Any] | None = None
    ) -> builtins.list[Any]:
        """The statement's rows, detached (see ``_reader``) and blanked (see ``_blanked``)."""
        return self._blanked(self._loaded(stmt, params), object_type)

    def _loaded(self, stmt: Select[Any], params: dict[str, Any] | None = None) -> Sequence[Any]:
        with self._reader() as reader:
            return reader.scalars(stmt, params).all()

    def _blanked(self, rows: Sequence[Any], object_type: str) -> builtins.list[Any]:
        """Detached rows with the columns field-level security hides from the principal read as None, so
        a skill that forgets ``masked`` still cannot show a hidden amount."""
        out = builtins.list(rows)
        hidden = hidden_fields(self.__principal, object_type)
        if hidden:
            for row in out:
                for name in hidden:
                    set_committed_value(row, name, None)
        return out

    # --- people --------------------------------------------------------------------------------

    def user_names(self, user_ids: Iterable[int | None]) -> dict[int, str]:
        """Display names of colleagues (the org directory is visible to every employee, as in the CRM)."""
        ids = sorted({int(i) for i in user_ids if i is not None})
        if not ids:
            return {}
        stmt = select(User.id, User.display_name).where(User.id.in_(ids))
        return {int(i): str(n) for i, n in self.__session.execute(stmt)}

    def user_name(self, user_id: int | None) -> str | None:
        return self.user_names([user_id]).get(int(user_id)) if user_id is not None else None

    def users_named(self, fragment: str, limit: int = 20) -> builtins.list[tuple[int, str, str]]:
        """(id, username, display name) of colleagues whose name or username contains ``fragment``."""
        if not fragment.strip():
            return []
        like = User.display_name.contains(fragment, autoescape=True) | User.username.contains(
            fragment, autoescape=True
        )
        stmt = select(User.id, User.username, User.display_name).where(like, User.is_active.is_(True))
        if self.__principal.is_partner:
            # An external user finds people of their own company only, never the vendor's staff list.
            stmt = stmt.where(User.partner_id == self.__principal.partner_id)
        stmt = stmt.order_by(User.id).limit(max(1, min(limit, MAX_ROWS)))
        return [(int(i), str(u), str(n)) for i, u, n in self.__session.execute(stmt)]


def _parts(order_by: Any) -> builtins.list[Any]:
    if order_by is None:
        return []
    return builtins.list(order_by) if isinstance(order_by, list | tuple) else [order_by]


def _bounded(limit: int | None) -> int:
    return MAX_ROWS if limit is None else max(0, min(int(limit), MAX_ROWS))


def _order(stmt: Select[Any], order_by: Any) -> Select[Any]:
    if order_by is None:
        return stmt
    if isinstance(order_by, list | tuple):
        return stmt.order_by(*order_by)
    return stmt.order_by(order_by)
