"""The skill contract: what a skill receives, what it returns, and how it is declared.

A skill is declared as data (``skills/defs/<name>.yaml``: name, descriptions, zh/en example
utterances, input schema, the object types whose pages it lives on, required roles, its template,
whether streamed turns may show its model tokens as they arrive) and implemented by one function
``run(request, ctx) -> SkillResult`` in ``skills/<name>.py``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field

from copilot.core.bounds import MAX_ID
from copilot.core.errors import BadRequest, Forbidden
from copilot.core.locale import Locale
from copilot.crm.permissions import may_use_skill
from copilot.crm.principal import Principal
from copilot.crm.repository import Records
from retrievers.facts import Fact
from skills.ports import Clock, Composer, Knowledge, SkillSettings, Templates

DEFS_DIR = Path(__file__).parent / "defs"


class PageContext(BaseModel):
    """The CRM page the user is on."""

    model_config = ConfigDict(extra="forbid")
    object_type: str = Field(min_length=1, max_length=40)
    object_id: int = Field(ge=1, le=MAX_ID)  # an id the database can hold (copilot.core.bounds)


class PriorTurn(BaseModel):
    """One earlier turn of the conversation, as a skill sees it: already bounded, PII-masked and re-checked
    against the asker's *current* permissions by the service (a record they lost access to is gone)."""

    model_config = ConfigDict(extra="forbid")
    message: str = ""
    skill: str | None = None
    answer: str = ""
    context: PageContext | None = None
    # The earlier result's structured parts a follow-up may refine: actions (drafts), data (rows,
    # variants), the options of a clarification.
    actions: list[dict[str, Any]] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)


class SkillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = ""
    input: dict[str, Any] = Field(default_factory=dict)
    context: PageContext | None = None
    locale: Locale | None = None
    # Earlier turns of this conversation, oldest first (empty for a fresh turn).
    history: list[PriorTurn] = Field(default_factory=list)


class Citation(BaseModel):
    type: Literal["kb", "crm"]
    id: str
    title: str


class ProposedWrite(BaseModel):
    """What confirming an action would write. A skill only proposes it: nothing is written until the
    person confirms (``POST /v1/actions/{id}/confirm``, copilot/service/actions.py)."""

    operation: Literal["log_activity", "create_task", "add_collaborator", "post_reply"]
    object_type: str  # the record it is written on
    object_id: int
    label: str = ""  # the confirm button's words, in the asker's language
    activity_kind: str | None = None  # log_activity: wecom | email | call | visit | note
    contact_id: int | None = None  # log_activity: whom the message went to
    due_date: str | None = None  # create_task: ISO date
    user_id: int | None = None  # add_collaborator: the colleague
    user_name: str | None = None


class Action(BaseModel):
    kind: str
    title: str
    reason: str = ""
    evidence: list[str] = Field(default_factory=list)
    draft: str | None = None
    channel: str | None = None
    score: float = 0.0
    # Set by the service when the answer is stored (every action of every answer has one).
    id: str | None = None
    confirm: ProposedWrite | None = None


def citation_for(fact: Fact) -> Citation:
    return Citation(type=fact.type, id=fact.id, title=fact.title)


class PromptRef(BaseModel):
    id: str
    version: str


class SkillResult(BaseModel):
    skill: str
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    prompt: PromptRef | None = None
    trace_id: str = ""
    degraded: bool = False
    provider: str = "offline"
    # Skill-specific structured output (understood filters, result rows, copy variants, ...).
    data: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    routing: dict[str, Any] | None = None
    # The conversation this turn belongs to (set by the service on every answer; pass it back to continue).
    conversation_id: str | None = None


class Choice(BaseModel):
    """One option of a question a skill asks back: a value for one of its inputs, or a record to work on."""

    label: str
    value: Any = None
    context: PageContext | None = None


class NeedsChoice(Exception):  # a question back, not an error: the turn answers it normally
    """Raised by a skill that lacks one thing it needs (which product, which campaign, which ticket) and can
    list the candidates. The turn answers with ``question`` and the numbered options, as a normal answer of
    that skill (never a 4xx); a reply with a number or a name reruns the same request with
    ``input[field] = option.value`` (or on ``option.context``)."""

    def __init__(self, question: str, options: list[Choice], field: str | None = None) -> None:
        super().__init__(question)
        self.question = question
        self.options = options
        self.field = field


Handler = Callable[["SkillRequest", "SkillContext"], SkillResult]


class TokenSink(Protocol):
    """Where a streaming caller (the SSE routes) receives the model's text while it is being written."""

    def model_started(self, skill: str, trace_id: str) -> None:
        """The model call is about to start: every check that can refuse the turn (4xx) has passed."""

    def delta(self, text: str) -> None:
        """One piece of the model's text, unmasked, as it arrives. Provisional: the SkillResult is final."""


@dataclass
class SkillContext:
    """Everything a skill may touch for one turn, all bound to the asker: typed ports (skills/ports.py),
    no session, no runtime. Built by the service (``Assistant.context``), never by a skill."""

    principal: Principal
    # The only way a skill reads CRM records: every query carries the principal's read predicate.
    records: Records
    # The only way a skill reads the knowledge base: searches carry the principal's ACL.
    knowledge: Knowledge
    composer: Composer
    templates: Templates
    clock: Clock
    settings: SkillSettings = field(default_factory=SkillSettings)
    locale: Locale = "zh"
    trace_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Every fact the skill retrieved this turn, by id: citations must come from here.
    retrieved: dict[str, Fact] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    template_hash: str | None = None
    # The skill answering this turn, once routed ("" before): what a streaming caller names in its meta event.
    skill: str = ""
    # Set by the assistant only when the caller streams *and* the skill declares ``stream_tokens``: compose
    # then streams its model call through the gateway and hands the pieces here as they arrive.
    token_sink: TokenSink | None = None
    # The request's earlier turns (bounded, re-checked): compose puts them before the prompt's last message.
    history: list[PriorTurn] = field(default_factory=list)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the block's wall time to ``timings_ms[stage]`` (retrieval, render, compose, ...)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - t0) * 1000
            self.timings_ms[stage] = round(self.timings_ms.get(stage, 0.0) + elapsed, 3)

    def remember(self, facts: list[Fact]) -> list[Fact]:
        for fact in facts:
            self.retrieved[fact.id] = fact
        return facts

    @property
    def shown_records(self) -> list[str]:
        return [f.id for f in self.retrieved.values() if f.type == "crm"]

    @property
    def shown_documents(self) -> list[str]:
        return sorted({str(f.meta.get("doc_id", f.id)) for f in self.retrieved.values() if f.type == "kb"})


class SkillSpec(BaseModel):
    """A skill's declaration, loaded from ``skills/defs/<name>.yaml`` (closed schema)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    title: dict[str, str]
    description: dict[str, str]
    # "skills.record_qa:run": documents (and is checked against) the function skills/handlers.py registers.
    handler: str
    template: str
    object_types: list[str] = Field(default_factory=list)
    required_roles: list[str] = Field(default_factory=list)  # any of; empty = every signed-in user
    # Object types of the page this skill cannot work without (a reply needs a ticket). With no such page
    # open the router does not run it: the turn asks which record instead. Empty: works anywhere.
    needs_page: list[str] = Field(default_factory=list)
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    examples: dict[str, list[str]] = Field(default_factory=dict)
    # True only for a skill whose answer is the model's text as written (one plain-text model call, nothing
    # rewritten afterwards): its streamed turns show the model's tokens as they arrive. A skill that
    # rewrites or filters the model's text (compliance, promise guard), asks for JSON or calls the model
    # more than once keeps False, or a client would see words the final answer took out. Strict: a
    # definition saying "yes please" is an error at load, not a silent True.
    stream_tokens: bool = Field(default=False, strict=True)

    def allowed(self, principal: Principal) -> bool:
        return may_use_skill(principal, self.required_roles)  # the policy decides (copilot.crm.permissions)

    def check_allowed(self, principal: Principal) -> None:
        if not self.allowed(principal):
            raise Forbidden(f"skill {self.name!r} needs one of the roles {', '.join(self.required_roles)}")


def load_specs(defs_dir: Path = DEFS_DIR) -> dict[str, SkillSpec]:
    specs: dict[str, SkillSpec] = {}
    for path in sorted(defs_dir.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        try:
            spec = SkillSpec.model_validate(raw)
        except Exception as exc:
            raise BadRequest(f"skill definition {path.name}: {exc}") from exc
        specs[spec.name] = spec
    return specs
