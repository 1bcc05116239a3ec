"""One copilot turn: route → permission checks → skill → citation check → audit.

The HTTP API, the CLI, MCP, the OpenAI-compatible endpoint and the evaluation harness all call
``Assistant.turn``; none of them has a side door around it. Prompt preview is the same turn in
render-only mode (``RenderOnly``: a pinned template version and a composer that records the prompt
instead of calling a model), and a knowledge-base search is ``Assistant.search_knowledge``: the same
input checks and the same audit row.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import jsonschema
from sqlalchemy.orm import Session

from copilot.core.clock import BusinessClock
from copilot.core.errors import BadRequest, NotFound, PayloadTooLarge, Unprocessable
from copilot.core.locale import detect_locale
from copilot.core.settings import Settings
from copilot.crm.principal import Principal
from copilot.crm.repository import Records
from copilot.llm.deadline import model_call_scope
from copilot.llm.gateway import Gateway
from copilot.llm.trust import check_question
from copilot.service.actions import propose
from copilot.service.connections import release_before_model_call
from copilot.service.conversation import ConversationService, Replayed
from copilot.store.audit import record_turn
from prompts.registry import Registry
from retrievers.embedding import Embedder
from retrievers.hybrid import KnowledgeIndex, SearchHit
from retrievers.knowledge import PrincipalKnowledge
from skills.base import Locale, NeedsChoice, SkillContext, SkillRequest, SkillResult, SkillSpec, TokenSink, load_specs
from skills.compose import clarify
from skills.handlers import handler_for
from skills.ports import Composer, SkillSettings, Templates
from skills.router import Router


class Parts(Protocol):
    """What a turn is made of. copilot.service.runtime.Runtime (the composition root) provides these,
    each built once per process; this module never imports it (the root imports us)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def embedder(self) -> Embedder: ...

    @property
    def kb(self) -> KnowledgeIndex: ...

    @property
    def llm(self) -> Gateway: ...

    @property
    def prompts(self) -> Registry: ...


@dataclass(frozen=True)
class RenderOnly:
    """Prompt preview: the turn runs as usual (checks, retrieval, permissions, audit) but renders through
    ``templates`` (one template pinned to a version) and answers through ``composer`` (which records the
    rendered prompt and calls no model). No conversation is started or continued."""

    templates: Templates
    composer: Composer


class Assistant:
    def __init__(self, runtime: Parts) -> None:
        self.runtime = runtime

    @cached_property
    def specs(self) -> dict[str, SkillSpec]:
        return load_specs()

    @cached_property
    def conversations(self) -> ConversationService:
        return ConversationService()

    @cached_property
    def router(self) -> Router:
        # The router's model fallback shares the turn's gateway: one breaker, one masking policy.
        runtime = self.runtime
        return Router.from_specs(self.specs, runtime.embedder, settings=runtime.settings, gateway=runtime.llm)

    def skills_for(self, principal: Principal) -> list[SkillSpec]:
        return [s for s in self.specs.values() if s.allowed(principal)]

    def spec(self, name: str) -> SkillSpec:
        spec = self.specs.get(name)
        if spec is None:
            raise NotFound(
                f"unknown skill {name!r}; known skills: {', '.join(sorted(self.specs))}", code="unknown_skill"
            )
        return spec

    def context(
        self,
        session: Session,
        principal: Principal,
        *,
        locale: Locale = "zh",
        templates: Templates | None = None,
        composer: Composer | None = None,
    ) -> SkillContext:
        """The ports one turn's skill works through, all bound to ``principal`` (the only place a
        SkillContext is built; tests and the evaluation harness use it too). ``templates``/``composer``:
        prompt preview's pinned registry and recorder instead of the runtime's."""
        runtime = self.runtime
        return SkillContext(
            principal=principal,
            records=Records(session, principal),
            knowledge=PrincipalKnowledge(lambda: runtime.kb, principal),
            composer=composer or runtime.llm,
            templates=templates or runtime.prompts,
            clock=BusinessClock(runtime.settings),
            settings=SkillSettings.from_settings(runtime.settings),
            locale=locale,
        )

    def turn(
        self,
        session: Session,
        principal: Principal,
        request: SkillRequest,
        skill: str | None = None,
        *,
        token_sink: TokenSink | None = None,
        conversation_id: str | None = None,
        replayed: Sequence[Replayed] | None = None,
        render_only: RenderOnly | None = None,
    ) -> SkillResult:
        """``token_sink``: a streaming caller's; it gets the model's text as written only if the skill
        declares ``stream_tokens`` (otherwise nothing is called on it and the caller shows the result).
        ``conversation_id``: continue that conversation of the asker's (else a new one); ``replayed``: an
        OpenAI-style client's own message history instead (copilot/service/conversation.py).
        ``render_only``: prompt preview (copilot/service/preview.py)."""
        # One clock for all the turn's model calls; its DB connection is handed back before each call.
        release = release_before_model_call(session)
        with model_call_scope(self.runtime.settings.turn_deadline_s, before_call=release):
            return self._turn(session, principal, request, skill, token_sink, conversation_id, replayed, render_only)

    def _turn(
        self,
        session: Session,
        principal: Principal,
        request: SkillRequest,
        skill: str | None,
        token_sink: TokenSink | None,
        conversation_id: str | None,
        replayed: Sequence[Replayed] | None,
        render_only: RenderOnly | None,
    ) -> SkillResult:
        self._bounded(request.message)
        started = time.perf_counter()
        user_default: Locale = "en" if principal.locale == "en" else "zh"
        locale: Locale = request.locale or detect_locale(request.message, user_default)
        ctx = self.context(
            session,
            principal,
            locale=locale,
            templates=render_only.templates if render_only else None,
            composer=render_only.composer if render_only else None,
        )
        cleaned = self._checked(request.message, ctx.flags)
        if cleaned != request.message:
            request = request.model_copy(update={"message": cleaned})

        # Earlier turns (re-checked against today's permissions); a follow-up or a picked option may set
        # the skill, the page and the inputs. A preview renders one request on its own.
        conv = None
        if render_only is None:
            with ctx.timed("conversation"):
                conv = self.conversations.begin(session, principal, request, skill, conversation_id, replayed)
            request, skill, ctx.history = conv.request, conv.skill, conv.request.history
            if conv.method:
                ctx.locale = request.locale or detect_locale(conv.typed, locale)

        if request.context is not None:
            # 404 before any skill runs: the page's record must be visible to the asker.
            ctx.records.get(request.context.object_type, request.context.object_id)

        t0 = time.perf_counter()
        routing: dict[str, Any]
        if skill:
            spec = self.spec(skill)
            routing = {"method": (conv.method if conv else None) or "explicit", "confidence": 1.0, "alternatives": []}
        else:
            decision = self.router.route(
                request.message,
                principal,
                object_type=request.context.object_type if request.context else None,
            )
            routing = {
                "method": decision.method,
                "confidence": round(float(decision.confidence), 4),
                "alternatives": [[name, round(float(score), 4)] for name, score in decision.alternatives],
            }
            if decision.skill is None:
                ctx.timings_ms["routing"] = _ms(t0)
                result = self._clarify(session, ctx, request, routing, decision)
                if conv is not None:
                    self.conversations.finish(session, conv, result)
                return result
            spec = self.spec(decision.skill)
        ctx.timings_ms["routing"] = _ms(t0)

        spec.check_allowed(principal)
        try:
            jsonschema.validate(request.input, spec.input_schema)
        except jsonschema.ValidationError as exc:
            raise Unprocessable(f"input for skill {spec.name!r}: {exc.message}") from exc

        ctx.skill = spec.name
        if token_sink is not None and spec.stream_tokens:
            ctx.token_sink = token_sink
        try:
            result = handler_for(spec)(request, ctx)
        except NeedsChoice as need:  # a question back with choices: a normal answer, never a 4xx
            result = self.conversations.ask(ctx.locale, spec.name, need)
        result.skill = spec.name
        result.routing = routing
        result.trace_id = ctx.trace_id
        self._keep_only_retrieved_citations(result, ctx)
        self._flag(result, ctx)
        ctx.timings_ms["total"] = _ms(started)
        if render_only is None:
            propose(session, principal, result)  # every action gets its id; nothing is written until confirmed
        self._audit(session, ctx, result)
        if conv is not None:
            self.conversations.finish(session, conv, result)
        return result

    def search_knowledge(
        self, session: Session, principal: Principal, query: str, k: int = 5, *, per_document: int | None = 1
    ) -> list[SearchHit]:
        """A knowledge-base search as ``principal`` through the same door as a turn: the same bounds and
        injection check on the query, the index's ACL inside the search, and an audit row (skill
        ``kb_search``) naming the documents shown."""
        self._bounded(query)
        started = time.perf_counter()
        flags: list[str] = []
        cleaned = self._checked(query, flags).strip()
        if not cleaned:
            raise Unprocessable("query must not be blank", code="invalid_request")
        hits = self.runtime.kb.search_as(principal, cleaned, k, per_document=per_document)
        timings: dict[str, Any] = {"retrieval_kb": _ms(started)}
        if flags:
            timings["injection_detected"] = True
        record_turn(
            session,
            user_id=principal.user_id,
            skill="kb_search",
            document_ids=[h.doc_id for h in hits],
            provider="none",
            degraded=False,
            timings_ms=timings,
        )
        return hits

    def _bounded(self, text: str) -> None:
        limit = self.runtime.settings.max_message_chars
        if len(text) > limit:
            raise PayloadTooLarge(f"message is {len(text)} characters; the limit is {limit}")

    @staticmethod
    def _checked(text: str, flags: list[str]) -> str:
        """``text`` without clauses that try to change the assistant's instructions or permissions (flagged);
        422 when nothing else is left. Nothing in a message can widen what the asker sees."""
        check = check_question(text)
        if check.nothing_left:
            raise Unprocessable(
                "the message only tries to change the assistant's instructions or permissions; "
                "ask about your records or documents instead",
                code="prompt_injection",
            )
        if check.injection_detected:
            flags.append("injection_detected")
            return check.text
        return text

    @staticmethod
    def _flag(result: SkillResult, ctx: SkillContext) -> None:
        result.warnings.extend(f for f in ctx.flags if f not in result.warnings)

    @staticmethod
    def _keep_only_retrieved_citations(result: SkillResult, ctx: SkillContext) -> None:
        kept = [c for c in result.citations if c.id in ctx.retrieved]
        if len(kept) != len(result.citations):
            result.warnings.append("citations_dropped_not_retrieved")
        seen: set[str] = set()
        result.citations = [c for c in kept if not (c.id in seen or seen.add(c.id))]  # type: ignore[func-returns-value]

    def _clarify(
        self, session: Session, ctx: SkillContext, request: SkillRequest, routing: dict[str, Any], decision: Any
    ) -> SkillResult:
        options = [self.specs[name] for name, _ in decision.alternatives[:3] if name in self.specs]
        page = request.context.object_type if request.context else None
        # Never offer a skill that cannot work here (a reply with no ticket open): picking it would fail.
        workable = [s for s in self.skills_for(ctx.principal) if not s.needs_page or page in s.needs_page]
        options = [s for s in options if s.name in {w.name for w in workable}] or workable[:3]
        if decision.reason == "needs_page" and decision.wanted in self.specs:
            # The request is clear but its skill needs a record page that is not open: ask which one.
            wanted = self.specs[decision.wanted]
            result = self.conversations.which_record(ctx.records, ctx.locale, wanted, wanted.needs_page)
        else:
            result = clarify(ctx, request, options)
        result.routing = routing
        result.trace_id = ctx.trace_id
        self._flag(result, ctx)
        propose(session, ctx.principal, result)
        self._audit(session, ctx, result)
        return result

    def _audit(self, session: Session, ctx: SkillContext, result: SkillResult) -> None:
        extra: dict[str, Any] = {"injection_detected": True} if "injection_detected" in ctx.flags else {}
        if result.routing and result.routing.get("method") == "llm":
            # The model chose the skill (the router's gateway fallback): the row says so.
            extra["routed_by_llm"] = True
        record_turn(
            session,
            user_id=ctx.principal.user_id,
            skill=result.skill,
            trace_id=ctx.trace_id,
            record_ids=ctx.shown_records,
            document_ids=ctx.shown_documents,
            template=f"{result.prompt.id}@{result.prompt.version}" if result.prompt else None,
            template_hash=ctx.template_hash,
            provider=result.provider,
            degraded=result.degraded,
            timings_ms=ctx.timings_ms | extra,
        )


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


def parse_object_ref(ref: str) -> tuple[str, int]:
    """``opportunity:12`` → ("opportunity", 12)."""
    kind, _, raw_id = ref.partition(":")
    if not kind or not raw_id.isdigit():
        raise BadRequest(f"object reference {ref!r} must look like TYPE:ID, e.g. opportunity:12")
    return kind, int(raw_id)
