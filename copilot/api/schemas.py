"""Request bodies of the public HTTP surface (closed: an unknown key is a 422, not ignored)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from copilot.core.bounds import MAX_ID
from skills.base import PageContext


def _ids_in_range(value: dict[str, Any]) -> dict[str, Any]:
    """Every integer in a skill's input fits 64 bits (the skill's own schema narrows it further)."""
    from copilot.core.bounds import check_integers
    from copilot.core.errors import Unprocessable

    try:
        check_integers(value, "input")
    except Unprocessable as exc:
        raise ValueError(f"{exc.message} (at most {MAX_ID})") from None
    return value


SkillInput = Annotated[dict[str, Any], AfterValidator(_ids_in_range)]


class AssistRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, description="what the user typed, Chinese, English or both")
    context: PageContext | None = None
    skill: str | None = Field(default=None, max_length=60)
    locale: Literal["zh", "en"] | None = None
    stream: bool = Field(default=False, description="true: answer as Server-Sent Events (meta, delta…, result, done)")
    input: SkillInput = Field(default_factory=dict)
    conversation_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="continue this conversation of yours (from an answer)"
    )


class InvokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: SkillInput = Field(default_factory=dict)
    context: PageContext | None = None
    message: str = ""
    locale: Literal["zh", "en"] | None = None
    conversation_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="continue this conversation of yours (from an answer)"
    )


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trace_id: str = Field(min_length=1, max_length=40)
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=2000)
