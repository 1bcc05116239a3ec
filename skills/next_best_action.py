"""next_best_action: ranked, evidence-backed next steps from deterministic signals.

Two scopes:

* ``record`` (the page's opportunity or account): every signal on that deal (or on the account's
  deals) plus the account-wide ones (payments, revenue, tickets, renewals, warranties, contacts),
  ranked by score, up to ``limit`` actions.
* ``mine`` ("which of my deals need attention first"; a manager's "团队里哪些商机有风险"): the asker's
  own deals — owner is the asker, or for a line manager anyone below them — open, or won within
  ``won_lookback_days`` (dispatch and payment still matter after a win); top ``limit`` deals, one best
  action each, each titled with the deal and (for a manager) its owner. An account-wide signal is
  offered to each deal of its account but used for one deal only, so two deals of one customer do not
  both say "chase the same overdue payment".

The person's words reach the writer: the request text, what ``read_instructions`` reads from it (draft
language, tone, "第二条"), and — for a follow-up in the same conversation ("把第二条建议的草稿改得更正式
一点") — the same record as the earlier turn, with that action's draft refined.

All records come through ``read_filter`` and ``visible_dict`` (see signals/records.py); citations are
built only from records that were retrieved there.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from typing import Any

from sqlalchemy import or_

from copilot.core.errors import BadRequest
from copilot.crm.models import Device, Opportunity
from retrievers.facts import Fact
from skills.base import Action, PageContext, PriorTurn, ProposedWrite, SkillContext, SkillRequest, SkillResult
from skills.compose import compose, result_from
from skills.instructions import Instructions, read_instructions
from skills.signals import RecordSet, Signal, SignalConfig, default_config, evaluate, load_records, to_action
from skills.signals.render import CUSTOMER_CHANNELS, messages

SKILL = "next_best_action"
TEMPLATE = "next_best_action"
DEFAULT_LIMIT = 5
MAX_LIMIT = 20


def resolve_today(ctx: SkillContext, today: dt.date | None = None) -> dt.date:
    """The evaluation day: explicit (the evaluation harness) > the business clock (a pinned demo day)."""
    return today if today is not None else ctx.clock.today()


# "Which of my deals…" asked on a deal page still means the whole pipeline.
MINE_CUES = re.compile(
    r"我手上|我的商机|我负责的|我的单|哪些商机|哪几个单|哪些单|所有商机|团队|下属|pipeline|my deals|my opportunities|"
    r"which of my|all my|my team|team's deals|team deals|deals at risk",
    re.IGNORECASE,
)


def _prior_turn(request: SkillRequest) -> PriorTurn | None:
    """The latest earlier answer of this skill in the conversation, if any."""
    return next((t for t in reversed(request.history) if t.skill == SKILL), None)


def _scope_from(request: SkillRequest, context: PageContext | None) -> str:
    if context is None or MINE_CUES.search(request.message or ""):
        return "mine"
    return "record"


def _deal_stage_clause(cfg: SignalConfig, today: dt.date) -> Any:
    lookback = today - dt.timedelta(days=cfg.won_lookback_days)
    return or_(
        Opportunity.stage.in_(cfg.open_stages),
        Opportunity.stage.in_(cfg.won_stages) & (Opportunity.close_date >= lookback),
    )


def _select_scope(
    context: PageContext | None, ctx: SkillContext, cfg: SignalConfig, today: dt.date, scope: str
) -> tuple[list[Opportunity], set[int], str | None]:
    records, principal = ctx.records, ctx.principal
    if scope == "mine":
        deals = records.list(
            "opportunity",
            Opportunity.owner_id.in_(sorted(principal.chain_ids)),
            _deal_stage_clause(cfg, today),
            order_by=Opportunity.id,
        )
        return deals, {d.account_id for d in deals}, None
    if context is None:
        raise BadRequest("next_best_action: scope 'record' needs a page context (an opportunity or an account)")
    object_type, object_id = context.object_type, context.object_id
    if object_type == "opportunity":
        opp = records.get("opportunity", object_id)  # 404 when invisible
        return [opp], {opp.account_id}, object_type
    if object_type != "account":
        # A ticket, device, contact or contract page: the next step is about that record's customer (the
        # answer is the account's, as on its own page). A page with no customer behind it (a product, a
        # campaign) is no deal at all: the asker's own pipeline, as with no page open.
        record = records.get(object_type, object_id)  # 404 when invisible
        account_id = getattr(record, "account_id", None)
        if account_id is None:
            return _select_scope(None, ctx, cfg, today, "mine")
        object_type, object_id = "account", int(account_id)
    account = records.get("account", object_id)
    deals = records.list(
        "opportunity", Opportunity.account_id == account.id, _deal_stage_clause(cfg, today), order_by=Opportunity.id
    )
    return deals, {account.id}, "account"


def _ticket_products(ctx: SkillContext, rs: RecordSet) -> None:
    """Which product each loaded ticket's machine is, so a ticket on what this deal sells weighs as its own."""
    device_of = {int(t["id"]): int(t["device_id"]) for t in rs.tickets if t.get("device_id") is not None}
    if not device_of:
        return
    devices = ctx.records.list("device", Device.id.in_(set(device_of.values())))
    # Masked: a product the asker may not see leaves the ticket unrelated (scored as account-wide).
    products = {int(d.id): ctx.records.masked("device", d).get("product_id") for d in devices}
    rs.ticket_products = {
        tid: int(product) for tid, did in device_of.items() if (product := products.get(did)) is not None
    }


def _best_per_deal(signals: list[Signal], rs: RecordSet, limit: int) -> list[tuple[int, Signal]]:
    """One action per deal, deals ranked by their best signal; a signal is used for one deal only."""
    candidates: dict[int, list[Signal]] = {opp_id: [] for opp_id in rs.deals}
    for s in signals:  # already best first
        if s.opportunity_id in rs.deals:
            targets = [s.opportunity_id]
        elif s.account_wide:
            targets = [d["id"] for d in rs.deals_of(s.account_id)]
        else:
            targets = []
        for t in targets:
            candidates[t].append(s)
    order = sorted((c[0].sort_key(), opp_id) for opp_id, c in candidates.items() if c)
    used: set[tuple[str, tuple[str, ...]]] = set()
    picked: list[tuple[int, Signal]] = []
    for _, opp_id in order:
        choice = next((s for s in candidates[opp_id] if (s.kind, s.evidence) not in used), None)
        if choice is None:
            continue
        used.add((choice.kind, choice.evidence))
        picked.append((opp_id, choice))
    picked.sort(key=lambda p: (p[1].sort_key(), p[0]))
    return picked[:limit]


def _fold_tickets(signals: list[Signal]) -> tuple[list[Signal], dict[int, list[Signal]]]:
    """Several open tickets of one account are one action (chasing the service team once), not one each
    crowding the deal's own risks off the top. Returns the signals with only the best ticket of each
    account kept, and for each kept ticket (by its index there) the ones folded into it."""
    kept: list[Signal] = []
    first: dict[int | None, int] = {}
    folded: dict[int, list[Signal]] = {}
    for s in signals:  # best first
        if s.kind == "high_priority_ticket":
            if s.account_id in first:
                folded.setdefault(first[s.account_id], []).append(s)
                continue
            first[s.account_id] = len(kept)
        kept.append(s)
    return kept, folded


def _with_folded(action: Action, others: list[Signal], locale: str) -> Action:
    lang = "zh" if locale == "zh" else "en"
    numbers = ("、" if lang == "zh" else ", ").join(str(s.facts.get("number")) for s in others)
    line = messages()["high_priority_ticket.others"]["reason"][lang].format(count=len(others), numbers=numbers)
    evidence = action.evidence + [e for s in others for e in s.evidence if e not in action.evidence]
    reason = f"{action.reason}{line}" if lang == "zh" else f"{action.reason} {line}"
    return action.model_copy(update={"reason": reason, "evidence": evidence})


def run(
    request: SkillRequest,
    ctx: SkillContext,
    *,
    today: dt.date | None = None,
    config: SignalConfig | None = None,
) -> SkillResult:
    cfg = config or default_config()
    today = resolve_today(ctx, today)
    locale = request.locale or ctx.locale
    ctx.locale = locale  # the template renders in the same language as the actions
    prior = _prior_turn(request)
    instructions = read_instructions(request.message or "", locale)
    follow_up = prior is not None and instructions.refines_only
    # A follow-up ("第二条改正式一点") is about the record the earlier answer was on.
    context = request.context or (prior.context if follow_up and prior is not None else None)
    scope = str(request.input.get("scope") or (prior.data.get("scope") if follow_up and prior else None) or "")
    scope = scope or _scope_from(request, context)
    if scope not in ("record", "mine"):
        raise BadRequest("next_best_action: scope must be 'record' or 'mine'")
    limit = max(1, min(int(request.input.get("limit") or DEFAULT_LIMIT), MAX_LIMIT))

    deals, account_ids, page_type = _select_scope(context, ctx, cfg, today, scope)
    if page_type is None:
        scope = "mine"  # a page with no customer behind it (a product): the asker's pipeline, said as such
    rs = load_records(ctx.records, cfg, today, deals, account_ids)
    _ticket_products(ctx, rs)
    signals = evaluate(rs, cfg)
    if page_type == "account":
        # On the account's own page an account-wide item is not "someone else's job": full weight.
        signals = sorted((replace(s, relevance=1.0) for s in signals), key=Signal.sort_key)
    me = ctx.principal.display_name or ctx.principal.username
    team = bool(ctx.principal.subordinate_ids)

    picked: list[tuple[int | None, Signal]]
    folded: dict[int, list[Signal]] = {}
    if scope == "mine":
        picked = [(opp_id, sig) for opp_id, sig in _best_per_deal(signals, rs, limit)]
    else:
        kept, folded = _fold_tickets(signals)
        picked = [(None, s) for s in kept[:limit]]
    focus = _focus(instructions, len(picked)) if follow_up else None
    actions: list[Action] = []
    deal_rows: list[dict[str, Any]] = []
    for i, (opp_id, sig) in enumerate(picked):
        # Draft language and tone as asked; on a follow-up naming one action ("第二条"), only that one.
        refine = focus is None or focus == i
        action = to_action(
            sig,
            rs,
            locale,
            _sender(ctx, rs, opp_id or sig.opportunity_id, me),
            language=instructions.language if refine else None,
            tone=instructions.tone if refine else None,
            shorter=instructions.shorter and refine,
        )
        if i in folded:
            action = _with_folded(action, folded[i], locale)
        action.confirm = _proposal(ctx, sig, action, rs, context, opp_id, today, locale)
        if opp_id is not None:
            deal = rs.deals[opp_id]
            deal_name = deal.get("name") or f"#{opp_id}"
            owner = rs.user_names.get(int(deal["owner_id"])) if team and deal.get("owner_id") else None
            label = str(deal_name)
            if owner:
                label += f"（{owner}）" if locale == "zh" else f" ({owner})"
            action.title = f"{label}：{action.title}" if locale == "zh" else f"{label}: {action.title}"
            deal_rows.append(
                {
                    "opportunity_id": opp_id,
                    "name": deal_name,
                    "owner": owner,
                    "account": rs.account_name(deal.get("account_id")),
                    "kind": sig.kind,
                    "score": sig.score,
                }
            )
        actions.append(action)

    cited = _cited_facts(actions, rs)
    answer_vars = _answer_vars(scope, page_type, rs, actions, deal_rows, len(signals), today, locale, team=team)
    variables = _template_vars(answer_vars, actions) | {
        "request": request.message or "",
        "instructions": instructions.as_data(),
        "focus": focus + 1 if focus is not None else 0,
        "previous_draft": _previous_draft(prior, focus) if follow_up else "",
    }
    composed = compose(ctx, TEMPLATE, variables, cited)
    return result_from(
        ctx,
        SKILL,
        composed,
        cited,
        actions=actions,
        data={
            "scope": scope,
            "today": today.isoformat(),
            "signals": [s.as_dict() for s in signals],
            "deals": deal_rows,
            "answer_vars": answer_vars,
            "follow_up": follow_up,
            "focus": focus + 1 if focus is not None else None,
            "context": context.model_dump() if context is not None else None,
        },
    )


# What confirming an action writes: proposed here, written only when the person confirms
# (copilot/service/actions.py). A message to the customer is logged as the follow-up it is; a request to
# the colleague handling a ticket brings them onto the deal's team; anything else becomes a task.
CONFIRM_LABELS = {
    "log_activity": {"zh": "记为跟进记录", "en": "Log as a follow-up"},
    "add_collaborator": {"zh": "邀请{name}协作", "en": "Add {name} as a collaborator"},
    "create_task": {"zh": "创建待办", "en": "Create a task"},
}
TASK_DUE_DAYS = 3


def _proposal(
    ctx: SkillContext,
    sig: Signal,
    action: Action,
    rs: RecordSet,
    context: PageContext | None,
    opp_id: int | None,
    today: dt.date,
    locale: str,
) -> ProposedWrite | None:
    deal = opp_id or sig.opportunity_id
    target: tuple[str, int] | None = None
    if deal is not None:
        target = ("opportunity", int(deal))
    elif context is not None and context.object_type in ("opportunity", "account"):
        target = (context.object_type, context.object_id)  # an account-wide item, acted on from this page
    elif sig.account_id is not None:
        target = ("account", int(sig.account_id))
    if target is None:
        return None
    lang = "zh" if locale == "zh" else "en"
    if action.channel in CUSTOMER_CHANNELS and action.draft:
        return ProposedWrite(operation="log_activity", object_type=target[0], object_id=target[1],
                             label=CONFIRM_LABELS["log_activity"][lang], activity_kind=action.channel,
                             contact_id=sig.contact_id)
    colleague = _ticket_assignee(sig, rs) if action.channel == "internal" else None
    if colleague is not None and colleague != ctx.principal.user_id:
        name = rs.user_names.get(colleague) or str(colleague)
        return ProposedWrite(operation="add_collaborator", object_type=target[0], object_id=target[1],
                             label=CONFIRM_LABELS["add_collaborator"][lang].format(name=name), user_id=colleague,
                             user_name=name)
    return ProposedWrite(operation="create_task", object_type=target[0], object_id=target[1],
                         label=CONFIRM_LABELS["create_task"][lang],
                         due_date=(today + dt.timedelta(days=TASK_DUE_DAYS)).isoformat())


def _ticket_assignee(sig: Signal, rs: RecordSet) -> int | None:
    """The engineer handling the ticket behind a ticket signal (whom its internal draft addresses)."""
    ids = {e.rpartition(":")[2] for e in sig.evidence if e.startswith("crm:ticket:")}
    for t in rs.tickets:
        if str(t.get("id")) in ids and t.get("assignee_id") is not None:
            return int(t["assignee_id"])
    return None


def _sender(ctx: SkillContext, rs: RecordSet, opp_id: int | None, me: str) -> str:
    """Who signs a draft: the rep who owns the deal when a manager looks at a subordinate's deal (the
    manager hands the draft to the rep), otherwise the asker."""
    owner = rs.deals.get(opp_id, {}).get("owner_id") if opp_id is not None else None
    if owner is not None and int(owner) in ctx.principal.subordinate_ids:
        return rs.user_names.get(int(owner)) or me
    return me


def _focus(instructions: Instructions, n: int) -> int | None:
    """The 0-based action a follow-up names ("第二条" → 1, "the last one" → n-1), None for all of them."""
    if instructions.ordinal is None or n == 0:
        return None
    index = n - 1 if instructions.ordinal == -1 else instructions.ordinal - 1
    return index if 0 <= index < n else None


def _previous_draft(prior: PriorTurn | None, focus: int | None) -> str:
    if prior is None or not prior.actions:
        return ""
    chosen = prior.actions[focus] if focus is not None and focus < len(prior.actions) else prior.actions[0]
    return str(chosen.get("draft") or "")


def _cited_facts(actions: list[Action], rs: RecordSet) -> list[Fact]:
    """The evidence of the returned actions, restricted to records actually retrieved."""
    seen: dict[str, Fact] = {}
    for action in actions:
        for eid in action.evidence:
            fact = rs.facts.get(eid)
            if fact is not None:
                seen.setdefault(eid, fact)
    return list(seen.values())


def _template_vars(v: dict[str, Any], actions: list[Action]) -> dict[str, Any]:
    """The registry template's variables (prompts/templates/next_best_action)."""
    return {
        "record_title": v["subject"] or "",
        "record_summary": v["summary"],
        "signals": [
            {"kind": a.kind, "reason": a.reason, "evidence_ids": a.evidence, "action": a.title, "draft": a.draft}
            for a in actions
        ],
    }


def _answer_vars(
    scope: str,
    page_type: str | None,
    rs: RecordSet,
    actions: list[Action],
    deal_rows: list[dict[str, Any]],
    n_signals: int,
    today: dt.date,
    locale: str,
    *,
    team: bool = False,
) -> dict[str, Any]:
    """Everything a template needs to phrase the answer (kept as data for skills/compose.py)."""
    subject = None
    if page_type == "opportunity" and rs.deals:
        subject = next(iter(rs.deals.values())).get("name")
    elif page_type == "account" and rs.focus_account_ids:
        subject = rs.account_name(next(iter(rs.focus_account_ids)))
    elif scope == "mine":
        subject = (
            ("我和团队负责的商机" if team else "我负责的商机")
            if locale == "zh"
            else ("my team's deals" if team else "my deals")
        )
    if locale == "zh":
        summary = f"截至 {today.isoformat()}，查看了 {len(rs.deals)} 个商机，发现 {n_signals} 个信号。"
    else:
        summary = f"As of {today.isoformat()}: {len(rs.deals)} deal(s) reviewed, {n_signals} signal(s) found."
    return {
        "scope": scope,
        "page_type": page_type,
        "subject": subject,
        "summary": summary,
        "team": team,
        "today": today.isoformat(),
        "deals_considered": len(rs.deals),
        "signals_found": n_signals,
        "actions": [{"title": a.title, "reason": a.reason, "kind": a.kind, "score": a.score} for a in actions],
        "deals": deal_rows,
    }
