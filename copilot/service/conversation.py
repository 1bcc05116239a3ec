"""The conversation around one turn: which earlier turns the skill may see, and what a short reply means.

Before the turn (``begin``): the caller's own conversation is loaded (another user's is a 404), its last
turns are bounded (``MAX_TURNS``, characters per answer and in all) and *re-checked against the asker's
current permissions*: a turn that quoted a record they can no longer read keeps only their own words.
Then a reply is read against the last turn:

- a refinement ("更正式一点", "shorter", "in English", "第二条", "换个开头") with no other page open goes to
  the same skill on the same record with the same inputs;
- the answer to a question with choices ("1", "第二个", or an option's name) picks that option and runs
  the request that asked for it.

After the turn (``finish``): the turn is stored as it was shown, with the records it quoted, and the
answer carries the conversation id. PII never leaves in history: the gateway masks every message of a
prompt, history included, before it reaches a model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from copilot.core.errors import CopilotError
from copilot.core.locale import detect_locale
from copilot.crm.permissions import model_for
from copilot.crm.principal import Principal
from copilot.crm.repository import Records
from copilot.store import conversations as store
from copilot.store.models import Conversation, ConversationTurn
from skills.base import Action, Choice, NeedsChoice, PageContext, PriorTurn, SkillRequest, SkillResult, SkillSpec

VOCAB_FILE = Path(__file__).with_name("conversation.yaml")
MAX_TURNS = 8  # earlier turns a skill sees
MAX_ANSWER_CHARS = 1500  # of one earlier answer
MAX_HISTORY_CHARS = 8000  # of all earlier answers together: the oldest go first
MAX_DATA_CHARS = 6000  # of one earlier answer's structured data (rows are cut, not the keys)
MAX_STORED_ROWS = 50  # list items kept per data key when a turn is stored
MAX_CHOICES = 5


@lru_cache(maxsize=1)
def vocab() -> dict[str, Any]:
    return yaml.safe_load(VOCAB_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@dataclass
class Replayed:
    """One message of an OpenAI-style ``messages`` history (the client keeps the conversation)."""

    role: str  # user | assistant
    text: str


@dataclass
class _Kept:
    """An earlier turn as the skill will see it, plus what a follow-up inherits from it."""

    prior: PriorTurn
    input: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    conversation: Conversation
    request: SkillRequest  # history filled; for a follow-up, the inherited record, inputs or original request
    skill: str | None  # explicit, or inherited by a follow-up
    typed: str  # what the user typed this turn (stored as the turn's message)
    method: str | None = None  # "followup" | "choice" when the conversation decided the skill


class ConversationService:
    # ---- before the turn -------------------------------------------------------------------------

    def begin(
        self,
        session: Session,
        principal: Principal,
        request: SkillRequest,
        skill: str | None,
        conversation_id: str | None,
        replayed: Sequence[Replayed] | None = None,
    ) -> Prepared:
        conversation = store.owned(session, principal.user_id, conversation_id) if conversation_id else None
        records = Records(session, principal)
        if replayed:
            kept, found = self._from_replayed(session, principal, records, replayed)
            conversation = conversation or found
        elif conversation is not None:
            kept = self._recheck(records, store.turns(session, conversation, last=MAX_TURNS))
        else:
            kept = []
        if conversation is None:
            conversation = store.create(session, principal.user_id)
        kept = _bounded(kept)
        prepared = Prepared(conversation, request, skill, request.message)
        if skill is None and kept and kept[-1].prior.answer:
            self._read_reply(prepared, kept[-1])
        prepared.request = prepared.request.model_copy(update={"history": [k.prior for k in kept]})
        return prepared

    def _read_reply(self, prepared: Prepared, last: _Kept) -> None:
        """A short reply to the last turn: the option it picks, or the refinement of the same answer."""
        request = prepared.request
        options = _options(last.prior)
        if options:
            picked = pick(request.message, options)
            if picked is not None:
                self._apply_choice(prepared, last, options[picked])
                return
        if (
            last.prior.skill
            and last.prior.skill != "clarify"
            and (request.context is None or request.context == last.prior.context)
            and is_refinement(request.message)
        ):
            prepared.skill = last.prior.skill
            prepared.method = "followup"
            prepared.request = request.model_copy(
                update={"context": last.prior.context, "input": {**last.input, **request.input}}
            )

    @staticmethod
    def _apply_choice(prepared: Prepared, last: _Kept, option: dict[str, Any]) -> None:
        need = last.prior.data.get("needs_choice") or {}
        original = prepared.request
        context = option.get("context") or (last.prior.context.model_dump() if last.prior.context else None)
        inputs = dict(last.input)
        if need.get("field") and option.get("value") is not None:
            inputs[need["field"]] = option["value"]
        prepared.skill = need.get("for_skill") or option.get("skill") or last.prior.skill
        prepared.method = "choice"
        # The request that asked the question runs now, with the choice filled in.
        prepared.request = original.model_copy(
            update={
                "message": last.prior.message or original.message,
                "context": PageContext.model_validate(context) if context else None,
                "input": {**inputs, **original.input},
            }
        )

    # ---- permission re-check ---------------------------------------------------------------------

    def _recheck(self, records: Records, rows: Iterable[ConversationTurn]) -> list[_Kept]:
        """Each stored turn as the asker may see it *now*: one that quoted a record they lost keeps only
        their own words (no answer, actions, data or page)."""
        rows = list(rows)
        visible = visible_refs(records, [ref for row in rows for ref in row.record_refs])
        kept = []
        for row in rows:
            prior = _prior(row)
            if any(ref not in visible for ref in row.record_refs):
                prior = PriorTurn(message=row.message, skill=row.skill)
                kept.append(_Kept(prior))
            else:
                kept.append(_Kept(prior, dict(row.input or {})))
        return kept

    def _from_replayed(
        self, session: Session, principal: Principal, records: Records, replayed: Sequence[Replayed]
    ) -> tuple[list[_Kept], Conversation | None]:
        """An OpenAI-style history: user/assistant pairs. An assistant message that is one of this user's
        stored answers brings back that turn's skill, page and data (re-checked like any stored turn)."""
        pairs: list[tuple[str, str]] = []
        pending = ""
        for m in replayed:
            if m.role == "user":
                pending = f"{pending}\n{m.text}".strip() if pending else m.text
            elif m.role == "assistant":
                pairs.append((pending, m.text))
                pending = ""
        if pending:  # the user wrote more than once before this message: those words are history too
            pairs.append((pending, ""))
        pairs = pairs[-MAX_TURNS:]  # only the turns a skill will see are looked up
        by_digest = store.turns_with_answers(
            session, principal.user_id, [d for _, answer in pairs if answer for d in _answer_digests(answer)]
        )
        matched: list[ConversationTurn | None] = []
        for _, answer in pairs:
            found = next((by_digest[d] for d in _answer_digests(answer) if d in by_digest), None) if answer else None
            matched.append(found)
        checked = self._recheck(records, [row for row in matched if row is not None])
        by_row = {id(row): k for row, k in zip([r for r in matched if r is not None], checked, strict=True)}
        kept: list[_Kept] = []
        for (message, answer), row in zip(pairs, matched, strict=True):
            if row is not None:
                kept.append(by_row[id(row)])
            else:
                kept.append(_Kept(PriorTurn(message=message, answer=answer)))
        last = next((row for row in reversed(matched) if row is not None), None)
        conversation = session.get(Conversation, last.conversation_id) if last is not None else None
        if conversation is not None and conversation.user_id != principal.user_id:
            conversation = None
        return kept, conversation

    # ---- questions with choices ------------------------------------------------------------------

    def ask(self, locale: str, skill: str, need: NeedsChoice) -> SkillResult:
        """A skill's question with numbered choices, as a normal answer of that skill."""
        options = list(need.options)[:MAX_CHOICES]
        words = vocab()["choice"][locale if locale in ("zh", "en") else "en"]
        if not options:
            return SkillResult(skill=skill, answer=need.question, data={"needs": need.field or "input"})
        lines = [need.question, *(f"{i}. {c.label}" for i, c in enumerate(options, 1)), words["hint"]]
        return SkillResult(
            skill=skill,
            answer="\n".join(lines),
            actions=[
                Action(kind="choose_option", title=c.label, draft=str(c.value) if c.value is not None else c.label)
                for c in options
            ],
            data={
                "needs_choice": {
                    "for_skill": skill,
                    "field": need.field,
                    "options": [c.model_dump(mode="json", exclude_none=True) for c in options],
                }
            },
        )

    def which_record(self, records: Records, locale: str, spec: SkillSpec, object_types: Sequence[str]) -> SkillResult:
        """The skill needs a record page that is not open: offer the asker's most recent open ones."""
        object_type = object_types[0]
        words = vocab()["which_record"]
        lang = locale if locale in ("zh", "en") else "en"
        noun = words["nouns"].get(object_type, {}).get(lang, object_type)
        question = words[lang].format(skill=spec.title.get(lang, spec.name), noun=noun)
        return self.ask(locale, spec.name, NeedsChoice(question, recent_records(records, object_type)))

    # ---- after the turn --------------------------------------------------------------------------

    def finish(self, session: Session, prepared: Prepared, result: SkillResult) -> None:
        request = prepared.request
        refs = [f"{request.context.object_type}:{request.context.object_id}"] if request.context else []
        for c in result.citations:
            if c.type == "crm" and (ref := _crm_ref(c.id)) and ref not in refs:
                refs.append(ref)
        store.add_turn(
            session,
            prepared.conversation,
            store.NewTurn(
                trace_id=result.trace_id,
                message=prepared.typed,
                skill=result.skill,
                answer=result.answer,
                object_type=request.context.object_type if request.context else None,
                object_id=request.context.object_id if request.context else None,
                input=dict(request.input),
                actions=[a.model_dump(mode="json") for a in result.actions],
                data=_trim_rows(result.data),
                citations=[c.model_dump(mode="json") for c in result.citations],
                record_refs=refs,
            ),
        )
        result.conversation_id = prepared.conversation.id


# --------------------------------------------------------------------------------------------------
# Reading a short reply


def is_refinement(message: str) -> bool:
    """Only modifiers of the previous answer ("更正式一点", "shorter", "in English", "第二条", "换个开头"),
    and short: a long message is a new request even when it also says "shorter"."""
    from skills.instructions import read_instructions

    text = message.strip()
    limit = vocab()["refinement"]["max_chars"] * (3 if text.isascii() else 1)
    if not text or len(text) > limit:
        return False
    if read_instructions(text, detect_locale(text)).refines_only:
        return True
    low = text.lower()
    return any(p in low for p in vocab()["refinement"]["extra"])


def pick(message: str, options: Sequence[dict[str, Any]]) -> int | None:
    """The option a reply picks: its number ("1", "第二个", "the second one", "选3") or its name."""
    text = message.strip().strip("。.!！ ")
    if not text:
        return None
    n = _number(text)
    if n is not None:
        if n == -1:
            return len(options) - 1
        return n - 1 if 1 <= n <= len(options) else None
    low = text.lower()
    for filler in vocab()["choice"]["name_fillers"]:
        low = low.replace(filler, " ").strip()
    hits = []
    for i, option in enumerate(options):
        names = [str(option.get(k) or "").lower() for k in ("label", "value", "skill")]
        names = [n for n in names if len(n) >= 2]
        if any(n == low or n in low or (len(low) >= 2 and low in n) for n in names):
            hits.append(i)
    if len(hits) == 1:
        return hits[0]
    limit = vocab()["choice"]["short_chars"] * (2 if text.isascii() else 1)  # Latin words are longer
    if len(text) <= limit:
        for pattern in vocab()["choice"]["ordinal_anywhere"]:
            m = re.search(pattern, text.lower())
            if m:
                raw = m.group(1)
                k = int(raw) if raw.isdigit() else _zh_number(raw)
                return k - 1 if k is not None and 1 <= k <= len(options) else None
    return None


def _number(text: str) -> int | None:
    v = vocab()["choice"]
    low = text.lower()
    m = re.fullmatch(v["number_pattern"], low)
    if m:
        raw = m.group(1)
        return int(raw) if raw.isdigit() else _zh_number(raw)
    for word, n in v["en_words"].items():
        if re.fullmatch(rf"(?:(?:the|option|number|no\.?)\s+)?{word}(?:\s+(?:one|option|choice))?(?:\s+please)?", low):
            return int(n)
    return None


def _zh_number(raw: str) -> int | None:
    digits = vocab()["choice"]["zh_digits"]
    if raw == "十":
        return 10
    if len(raw) == 1:
        return digits.get(raw)
    if raw.startswith("十") and len(raw) == 2:
        return 10 + digits.get(raw[1], 0)
    return None


def _options(prior: PriorTurn) -> list[dict[str, Any]]:
    """The choices an earlier answer offered: a skill's ``needs_choice`` or the router's skill question."""
    need = prior.data.get("needs_choice")
    if isinstance(need, dict) and need.get("options"):
        return [o for o in need["options"] if isinstance(o, dict)]
    if prior.skill == "clarify" and prior.data.get("options"):
        titles = [a.get("title", "") for a in prior.actions]
        names = [str(s) for s in prior.data["options"]]
        return [{"skill": s, "label": titles[i] if i < len(titles) else s} for i, s in enumerate(names)]
    return []


# --------------------------------------------------------------------------------------------------
# Records


def visible_refs(records: Records, refs: Iterable[str]) -> set[str]:
    """Which ``object_type:id`` refs the asker may read now: one query per object type."""
    by_type: dict[str, set[int]] = {}
    for ref in refs:
        kind, _, raw = ref.partition(":")
        if raw.isdigit():
            by_type.setdefault(kind, set()).add(int(raw))
    visible: set[str] = set()
    for kind, ids in by_type.items():
        try:
            model: Any = model_for(kind)
            rows = records.rows(kind, model.id, where=[model.id.in_(sorted(ids))])
        except CopilotError:  # a type this deployment no longer knows: nothing of it is quoted again
            continue
        visible.update(f"{kind}:{r[0]}" for r in rows)
    return visible


def recent_records(records: Records, object_type: str) -> list[Choice]:
    """The asker's most recently updated open records of a type (their own first), as choices."""
    model: Any = model_for(object_type)
    spec = vocab()["which_record"]["open"].get(object_type, {})
    where = []
    if spec.get("closed_statuses") and hasattr(model, "status"):
        where.append(model.status.notin_(spec["closed_statuses"]))
    order = model.updated_at.desc() if hasattr(model, "updated_at") else model.id.desc()
    mine_col = getattr(model, spec.get("mine", "owner_id"), None)
    found: list[Any] = []
    if mine_col is not None:
        mine = mine_col == records.principal.user_id
        found = records.list(object_type, *where, mine, order_by=order, limit=MAX_CHOICES)
    if len(found) < MAX_CHOICES:
        seen = {r.id for r in found}
        more = records.list(object_type, *where, order_by=order, limit=MAX_CHOICES * 2)
        found += [r for r in more if r.id not in seen][: MAX_CHOICES - len(found)]
    label = spec.get("label", "{name}")
    return [
        Choice(
            label=label.format(**{k: getattr(r, k, "") for k in re.findall(r"{(\w+)}", label)}),
            context=PageContext(object_type=object_type, object_id=r.id),
        )
        for r in found
    ]


def _crm_ref(citation_id: str) -> str | None:
    parts = citation_id.split(":")
    return f"{parts[1]}:{parts[2]}" if len(parts) >= 3 and parts[0] == "crm" and parts[2].isdigit() else None


# --------------------------------------------------------------------------------------------------
# Bounds


def _prior(row: ConversationTurn) -> PriorTurn:
    context = None
    if row.object_type and row.object_id:
        context = PageContext(object_type=row.object_type, object_id=row.object_id)
    return PriorTurn(
        message=row.message,
        skill=row.skill,
        answer=row.answer,
        context=context,
        actions=list(row.actions or []),
        data=dict(row.data or {}),
    )


def _bounded(kept: list[_Kept]) -> list[_Kept]:
    """The last MAX_TURNS turns, each answer cut to MAX_ANSWER_CHARS, the oldest dropped past MAX_HISTORY_CHARS."""
    kept = kept[-MAX_TURNS:]
    out: list[_Kept] = []
    total = 0
    for k in reversed(kept):
        p = k.prior
        answer = p.answer if len(p.answer) <= MAX_ANSWER_CHARS else p.answer[: MAX_ANSWER_CHARS - 1] + "…"
        total += len(answer) + len(p.message)
        if out and total > MAX_HISTORY_CHARS:
            break
        data = p.data if len(str(p.data)) <= MAX_DATA_CHARS else _trim_rows(p.data, 10)
        actions = [{**a, "draft": _cut(a.get("draft"))} for a in p.actions[:MAX_CHOICES * 2]]
        out.append(_Kept(p.model_copy(update={"answer": answer, "data": data, "actions": actions}), k.input))
    return out[::-1]


def _cut(text: Any) -> Any:
    return text[:MAX_ANSWER_CHARS] if isinstance(text, str) else text


def _trim_rows(data: dict[str, Any], rows: int = MAX_STORED_ROWS) -> dict[str, Any]:
    return {k: (v[:rows] if isinstance(v, list) else v) for k, v in (data or {}).items()}


def _answer_digests(text: str) -> list[str]:
    """The digests an answer may have come back as: as sent, or without the sources list we appended."""
    out = [store.digest(text)]
    for heading in vocab()["sources_headings"]:
        marker = f"\n\n{heading}:\n"
        if marker in text:
            out.append(store.digest(text.rsplit(marker, 1)[0]))
    return out
