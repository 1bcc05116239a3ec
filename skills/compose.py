"""Compose an answer: render a registry template, run it through the model gateway, keep the evidence.

Every skill that writes prose goes through ``compose``: the template is rendered in the turn's locale
(id@version and the template hash are recorded for the audit row), the facts are remembered on the
context (the assistant drops any citation that was not remembered), and the gateway decides between
the configured model and the template's ``offline`` body (PII is masked on the way out).

When the turn carries a token sink (a streaming caller, a skill declaring ``stream_tokens``), the one
plain-text model call goes through the gateway's stream path instead: same masking, retries before the
first token, breaker and fallback, but each unmasked piece reaches the sink as the model writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from copilot.llm.gateway import LLMResult
from copilot.llm.structured import JsonSchema
from prompts.registry import RenderedPrompt
from retrievers.facts import Fact
from skills.base import Action, PromptRef, SkillContext, SkillRequest, SkillResult, SkillSpec
from skills.history import with_history

# Contact fields whose values are people's names: masked before a prompt leaves for a model when
# settings.mask_contact_names is on (the gateway's regexes catch phones and e-mails, not names).
_NAME_FIELDS = {"contact": ("name",), "ticket_message": ("author_name",)}


@dataclass
class Composed:
    text: str
    prompt: PromptRef
    provider: str = "offline"
    degraded: bool = False
    reason: str | None = None
    parsed: Any = None
    hash: str = ""
    rendered: RenderedPrompt | None = field(default=None, repr=False)


def fact_vars(facts: Iterable[Fact]) -> list[dict[str, str]]:
    """Facts in the shape every template declares: ``[{id, label, text}]`` (``title`` for KB snippets)."""
    return [{"id": f.id, "label": f.title, "title": f.title, "text": f.text} for f in facts]


def contact_names(facts: Iterable[Fact]) -> list[str]:
    names: list[str] = []
    for f in facts:
        kind = f.meta.get("object_type")
        for key in _NAME_FIELDS.get(str(kind), ()):
            value = (f.meta.get("fields") or {}).get(key)
            if isinstance(value, str) and value.strip() and value not in names:
                names.append(value)
        extra = f.meta.get("person_names")
        if isinstance(extra, list):
            names.extend(n for n in extra if isinstance(n, str) and n and n not in names)
    return names


def compose(
    ctx: SkillContext,
    template_id: str,
    variables: Mapping[str, Any],
    facts: Sequence[Fact],
    *,
    json_schema: dict[str, Any] | None = None,
    version: str | int | None = None,
    extra_names: Sequence[str] = (),
) -> Composed:
    """Render ``template_id`` in ``ctx.locale`` with ``variables``, remember ``facts`` and answer."""
    ctx.remember(list(facts))
    with ctx.timed("render"):
        rendered = ctx.templates.render(template_id, variables, version=version, locale=ctx.locale)
    # The conversation so far (bounded, re-checked by the service) goes before the prompt's last message.
    rendered = with_history(rendered, ctx.history)
    ref = PromptRef(id=rendered.id, version=rendered.version)
    ctx.template_hash = rendered.hash
    names: list[str] = []
    if ctx.settings.mask_contact_names:
        names = [*contact_names(facts), *(n for n in extra_names if n)]
    with ctx.timed("compose"):
        out = _call_composer(
            rendered, json_schema=json_schema or rendered.output_schema, names=names, facts=facts, ctx=ctx
        )
    return Composed(
        text=out.text,
        prompt=ref,
        provider=out.provider,
        degraded=out.degraded,
        reason=out.degraded_reason,
        parsed=out.parsed,
        hash=rendered.hash,
        rendered=rendered,
    )


def _call_composer(
    rendered: RenderedPrompt,
    *,
    json_schema: JsonSchema | None,
    names: list[str],
    facts: Sequence[Fact],
    ctx: SkillContext,
) -> LLMResult:
    flagged = sorted({str(f.meta.get("doc_id", f.id)) for f in facts if f.meta.get("flagged")})
    injection = bool(flagged) or "injection_detected" in ctx.flags
    if _streams(json_schema, ctx):
        return _stream(rendered, names=names, injection=injection, flagged=flagged, ctx=ctx)
    return ctx.composer.run(
        rendered,
        names=names,
        json_schema=json_schema,
        injection_detected=injection,
        flagged_documents=flagged,
    )


def _streams(json_schema: JsonSchema | None, ctx: SkillContext) -> bool:
    """Stream only when someone listens and there are model tokens worth showing: not offline (its text is
    the finished answer already; prompt preview is offline too), not JSON (half an object is no answer)."""
    return ctx.token_sink is not None and json_schema is None and not ctx.composer.is_offline


def _stream(
    rendered: RenderedPrompt, *, names: list[str], injection: bool, flagged: list[str], ctx: SkillContext
) -> LLMResult:
    sink = ctx.token_sink
    assert sink is not None
    # One streamed model call per turn: a second compose in the same turn must not add its text to the
    # client's running answer, so the sink is used up here.
    ctx.token_sink = None
    sink.model_started(ctx.skill, ctx.trace_id)
    stream = ctx.composer.stream(rendered, names=names, injection_detected=injection, flagged_documents=flagged)
    for piece in stream:
        sink.delta(piece)
    # The gateway's own rules made this: the whole text, or the fallback / partial text marked degraded.
    assert stream.result is not None  # set once iteration is done
    return stream.result


def append_note(composed: Composed, note: str) -> None:
    """Add a note after the text as written (not rstripped), so a streamed answer stays a prefix of the
    final one and the note simply arrives as its last piece."""
    if note:
        sep = "" if composed.text.endswith("\n") else "\n"
        composed.text = f"{composed.text}{sep}{note}"


def result_from(
    ctx: SkillContext,
    skill: str,
    composed: Composed,
    cited: Iterable[Fact],
    **extra: Any,
) -> SkillResult:
    """The common SkillResult: answer, citations (deduplicated, in order), prompt ref, provider."""
    from skills.base import citation_for

    seen: set[str] = set()
    citations = []
    for fact in cited:
        if fact.id in seen:
            continue
        seen.add(fact.id)
        citations.append(citation_for(fact))
    result = SkillResult(
        skill=skill,
        answer=composed.text,
        citations=citations,
        prompt=composed.prompt,
        trace_id=ctx.trace_id,
        degraded=composed.degraded,
        provider=composed.provider,
        **extra,
    )
    if composed.degraded and composed.reason:
        result.warnings.append(f"llm_degraded:{composed.reason}")
    return result


def clarify(ctx: SkillContext, request: SkillRequest, options: list[SkillSpec]) -> SkillResult:
    """Ask which skill was meant; the options come back as actions a client can render as buttons."""
    lang = 0 if ctx.locale == "zh" else 1
    locale_key = ("zh", "en")[lang]
    candidates = [
        {"skill": spec.name, "label": spec.title.get(locale_key) or spec.title.get("zh") or spec.name}
        for spec in options
    ]
    composed = compose(ctx, "router_clarify", {"message": request.message, "candidates": candidates}, [])
    actions = [
        Action(
            kind="choose_skill",
            title=c["label"],
            reason=options[i].description.get(locale_key, ""),
            draft=c["skill"],
        )
        for i, c in enumerate(candidates)
    ]
    return SkillResult(
        skill="clarify",
        answer=composed.text,
        actions=actions,
        prompt=composed.prompt,
        trace_id=ctx.trace_id,
        degraded=composed.degraded,
        provider=composed.provider,
        data={"options": [c["skill"] for c in candidates]},
    )
