"""``/v1/actions/{id}/confirm`` and ``/dismiss``: a person's decision on an action an answer proposed.

Confirm writes the proposal (copilot/service/actions.py: the policy's write check, the audit row) and
answers ``201 {"record": {"object_type", "id"}}``; confirming again answers the same, writing nothing.
Another user's action, or an unknown id, is a 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from copilot.api.deps import PrincipalDep, RuntimeDep, SessionDep
from copilot.core.clock import now
from copilot.service import actions

router = APIRouter(prefix="/v1/actions", tags=["actions"])
ActionId = Annotated[str, Path(min_length=1, max_length=64, description="an action's id from an answer")]


class ConfirmRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    draft: str | None = Field(default=None, max_length=actions.MAX_DRAFT_CHARS, description="the edited text")


class RecordRef(BaseModel):
    object_type: str
    id: int


class ActionState(BaseModel):
    id: str
    kind: str
    status: str = Field(description="proposed | confirmed | dismissed")
    operation: str | None = None
    object_type: str | None = None
    object_id: int | None = None


class Confirmed(BaseModel):
    record: RecordRef
    action: ActionState


class Dismissed(BaseModel):
    action: ActionState


@router.post("/{action_id}/confirm", status_code=201, response_model=Confirmed)
def confirm(
    action_id: ActionId, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep,
    body: ConfirmRequest | None = None,
) -> Any:
    """Execute one of your proposed actions (``draft``: your edited text). 201 with the record written."""
    outcome = actions.confirm(session, principal, action_id, body.draft if body else None, now(runtime.settings))
    answer = outcome.body()
    session.commit()
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return JSONResponse(answer, status_code=201, headers=headers)


@router.post("/{action_id}/dismiss", response_model=Dismissed)
def dismiss(action_id: ActionId, principal: PrincipalDep, session: SessionDep) -> Dismissed:
    """Mark one of your proposed actions dismissed: it can no longer be confirmed."""
    row = actions.dismiss(session, principal, action_id)
    state = ActionState(**actions.describe(row))
    session.commit()
    return Dismissed(action=state)
