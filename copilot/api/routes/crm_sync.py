"""Upserts from a host CRM's integration: ``PUT``/``DELETE /v1/crm/{object_type}/{external_id}`` and
``POST /v1/crm/{object_type}:batch``, for records and for users, departments, roles, teams and sharing
rules. Integration or admin tokens only (``permissions.may_sync_records``).

Bodies use the field names ``GET /v1/records`` returns; references are external ids (or usernames,
department codes...). A bad field is a 422 naming it, and nothing of the request is written. A change
is committed before the answer, and every request loads its principal afresh, so the very next request
of any user sees it (permissions included).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from copilot.api.deps import PrincipalDep, RuntimeDep
from copilot.api.errors import error_response
from copilot.core.errors import BadRequest, Forbidden, Unprocessable
from copilot.crm.db import transaction
from copilot.crm.permissions import may_sync_records
from copilot.crm.principal import Principal
from copilot.store.audit import record_turn
from copilot.sync.objects import canonical_type
from copilot.sync.upsert import Item, Outcome, RowError, Upserter

router = APIRouter(prefix="/v1/crm", tags=["sync"])
MAX_BATCH = 1000
ObjectType = Annotated[str, Path(max_length=40, description="account, opportunity, user, sharing_rule, ... "
                                                           "(singular; plurals accepted)")]
ExternalId = Annotated[str, Path(min_length=1, max_length=120, description="the host CRM's id of the record")]


class Written(BaseModel):
    object_type: str
    external_id: str
    id: int | None = None
    result: str  # created | updated | unchanged | deleted | deactivated


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: Annotated[list[dict[str, Any]], Field(max_length=MAX_BATCH)] = []
    delete: Annotated[list[Annotated[str, Field(min_length=1, max_length=120)]], Field(max_length=MAX_BATCH)] = []


class BatchResult(BaseModel):
    object_type: str
    created: int
    updated: int
    unchanged: int
    deleted: int
    records: list[Written]


class _Rejected(Exception):
    """Raised inside the transaction (so it rolls back), answered as a 422 listing every bad field."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(str(errors[0]))
        self.errors = errors


def _allowed(principal: Principal, object_type: str) -> str:
    if not may_sync_records(principal):
        raise Forbidden("only integration or admin tokens may write through /v1/crm")
    return canonical_type(object_type)


def _rejection(errors: list[RowError], batch: bool) -> JSONResponse:
    first = errors[0]
    where = f"records[{first.row}]." if batch and first.row is not None else ""
    message = f"{where}{first.column}: {first.reason}" if first.column else first.reason
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    details = [{**e.to_dict(), "index": e.row} if batch else {k: v for k, v in e.to_dict().items() if k != "row"}
               for e in errors]
    return error_response(422, "invalid_record", message, details=details)


def _audit(session: Any, principal: Principal, kind: str, records: list[dict[str, Any]]) -> None:
    record_turn(session, user_id=principal.user_id, skill="crm_sync",
                record_ids=[f"crm:{kind}:{r['id']}" for r in records if r.get("id") is not None][:500])


@router.put("/{object_type}/{external_id}", response_model=Written)
def put_record(object_type: ObjectType, external_id: ExternalId, runtime: RuntimeDep, principal: PrincipalDep,
               body: Annotated[dict[str, Any], Body(description="fields by the names GET /v1/records returns")],
               ) -> Written | JSONResponse:
    kind = _allowed(principal, object_type)
    if "external_id" in body and str(body["external_id"]) != external_id:
        raise BadRequest("external_id in the body differs from the one in the path")
    upserter = Upserter(kind, want_records=True)
    try:
        with transaction(runtime.sessions) as session:
            outcome = upserter.apply(session, [Item(values={**body, "external_id": external_id})])
            if outcome.errors:
                raise _Rejected(outcome.errors)
            _audit(session, principal, kind, outcome.records)
    except _Rejected as rejected:
        return _rejection(rejected.errors, batch=False)
    record = outcome.records[0]
    return Written(object_type=kind, **record)


@router.delete("/{object_type}/{external_id}", response_model=Written)
def delete_record(object_type: ObjectType, external_id: ExternalId, runtime: RuntimeDep,
                  principal: PrincipalDep) -> Written:
    kind = _allowed(principal, object_type)
    with transaction(runtime.sessions) as session:
        record = Upserter(kind).delete(session, external_id)
        _audit(session, principal, kind, [record])
    return Written(object_type=kind, **record)


@router.post("/{object_type}:batch", response_model=BatchResult)
def batch(object_type: ObjectType, body: BatchBody, runtime: RuntimeDep,
          principal: PrincipalDep) -> BatchResult | JSONResponse:
    """Upserts ``records`` and removes ``delete`` (external ids) in one transaction: all or nothing."""
    kind = _allowed(principal, object_type)
    if not body.records and not body.delete:
        raise Unprocessable("records: give at least one record or one external id to delete", code="invalid_request")
    upserter = Upserter(kind, want_records=True)
    items = [Item(values=r, row=i) for i, r in enumerate(body.records)]
    try:
        with transaction(runtime.sessions) as session:
            outcome = upserter.apply(session, items) if items else Outcome()
            if outcome.errors:
                raise _Rejected(outcome.errors)
            for ext in body.delete:
                outcome.records.append(upserter.delete(session, ext))
                outcome.deleted += 1
            _audit(session, principal, kind, outcome.records)
    except _Rejected as rejected:
        return _rejection(rejected.errors, batch=True)
    return BatchResult(object_type=kind, created=outcome.created, updated=outcome.updated,
                       unchanged=outcome.unchanged, deleted=outcome.deleted,
                       records=[Written(object_type=kind, **r) for r in outcome.records])
