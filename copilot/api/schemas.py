"""Request bodies of the public HTTP surface (closed: an unknown key is a 422, not ignored)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from skills.base import PageContext


class AssistRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, description="what the user typed, Chinese, English or both")
    context: PageContext | None = None
    skill: str | None = Field(default=None, max_length=60)
    locale: Literal["zh", "en"] | None = None
    stream: bool = Field(default=False, description="true: answer as Server-Sent Events (meta, delta…, result, done)")
    input: dict[str, Any] = Field(default_factory=dict)
    conversation_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="continue this conversation of yours (from an answer)"
    )


class InvokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: dict[str, Any] = Field(default_factory=dict)
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
