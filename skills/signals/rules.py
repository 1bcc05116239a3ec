"""The signal rules: one small function per signal kind, over a masked ``RecordSet``.

A rule reads only what ``records.load_records`` fetched (visible, FLS-masked rows), so a field hidden
from the asker is simply absent: a rule then skips the comparison that needs it (dispatch threshold)
or counts its value as 0 (score), and the message shows "***" for it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from skills.signals.config import SignalConfig
from skills.signals.records import RecordSet, Row, evidence_id
from skills.signals.scoring import Money, Signal, urgency_ahead, urgency_past

DECISION_MAKER = "决策者"

Rule = Callable[[RecordSet, SignalConfig], Iterable[Signal]]


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    return None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return None


def _signal(
    rs: RecordSet,
    cfg: SignalConfig,
    kind: str,
    *,
    account_id: int | None,
    opportunity_id: int | None,
    value: float | None,
    urgency: float | None,
    evidence: Iterable[str],
    facts: dict[str, Any],
    variant: str | None = None,
    relevance: float | None = None,
    contact_id: int | None = None,
    weight: float = 1.0,
) -> Signal:
    """``weight`` scales the kind's severity (a competitor mention that is not a move)."""
    k = cfg.kinds[kind]
    facts = {k_: v for k_, v in facts.items() if v is not None}  # absent (hidden/unknown) → "***" at render
    return Signal(
        kind=kind,
        account_id=account_id,
        opportunity_id=opportunity_id,
        severity=round(k.severity * weight, 3),
        value=value or 0.0,
        urgency=urgency if urgency is not None else k.urgency,
        value_unit=cfg.value_unit,
        evidence=tuple(dict.fromkeys(evidence)),
        facts=facts,
        variant=variant,
        contact_id=contact_id if contact_id is not None else pick_contact(rs, cfg, kind, account_id),
        account_wide=k.account_wide,
        relevance=relevance if relevance is not None else k.relevance,
    )


def pick_contact(rs: RecordSet, cfg: SignalConfig, kind: str, account_id: int | None) -> int | None:
    """The visible contact a customer-facing draft goes to, by preferred decision role."""
    contacts = rs.contacts.get(account_id, []) if account_id is not None else []
    for role in cfg.preferred_roles(kind):
        for c in contacts:
            if c.get("decision_role") == role:
                return int(c["id"])
    return int(contacts[0]["id"]) if contacts else None


def _open_deals(rs: RecordSet, cfg: SignalConfig) -> Iterator[Row]:
    for opp_id in sorted(rs.deals):
        deal = rs.deals[opp_id]
        if deal.get("stage") in cfg.open_stages:
            yield deal


def _deal_facts(rs: RecordSet, deal: Row) -> dict[str, Any]:
    amount = _num(deal.get("amount"))
    return {
        "opp": deal.get("name"),
        "account": rs.account_name(deal.get("account_id")),
        "stage": deal.get("stage"),
        "amount": Money(amount) if amount is not None else None,
    }


def _max_open_amount(rs: RecordSet, cfg: SignalConfig, account_id: int | None) -> float:
    amounts = [_at_stake(d, cfg) for d in rs.deals_of(account_id) if d.get("stage") in cfg.open_stages]
    return max(amounts, default=0.0)


def _at_stake(deal: Row, cfg: SignalConfig) -> float:
    """The money a deal risk puts at stake: the amount (0 when hidden) × the weight of the deal's stage."""
    return (_num(deal.get("amount")) or 0.0) * cfg.stage_weight.get(str(deal.get("stage")), 1.0)


def _deal_activities(rs: RecordSet, deal: Row) -> list[Row]:
    """The deal's own activities and account-level ones not tied to another deal, newest first."""
    return [
        a
        for a in rs.activities
        if a.get("opportunity_id") == deal["id"]
        or (a.get("opportunity_id") is None and a.get("account_id") == deal.get("account_id"))
    ]


def _when(act: Row) -> dt.datetime:
    """When an activity happened (undated ones sort first, so they never count as 'later')."""
    when = act.get("occurred_at")
    return when if isinstance(when, dt.datetime) else dt.datetime.min


def _text(act: Row) -> str:
    return f"{act.get('subject') or ''}\n{act.get('body') or ''}"


# --- deal signals ------------------------------------------------------------------------------


def stale_deal(rs: RecordSet, cfg: SignalConfig) -> Iterator[Signal]:
    """Silence on an open deal: the fuse is shorter, and the urgency higher, as its close date nears.

    A close date already passed is ``close_date_passed``'s story; silence then counts only for itself.
    """
    st = cfg.stale
    for deal in _open_deals(rs, cfg):
        last = rs.last_activity_at.get(deal["id"])
        since = _date(last) or _date(deal.get("created_at"))
        if since is None:
            continue
        days = (rs.today - since).days
        close = _date(deal.get("close_date"))
        to_close = (close - rs.today).days if close is not None else None
        near = to_close is not None and 0 <= to_close <= st.close_horizon_days
        fuse = st.near_close_days if near else st.days
        if days < fuse:
            continue
        closeness = (st.close_horizon_days - to_close) / st.close_horizon_days if near and to_close is not None else 0.0
        urgency = 1.0 + 0.5 * min(days - fuse, 60) / 60 + 0.5 * closeness
        last_act = next((a for a in rs.activities if a.get("opportunity_id") == deal["id"]), None)
        evidence = [evidence_id("opportunity", deal["id"])]
        if last_act is not None:
            evidence.append(evidence_id("activity", last_act["id"]))
        facts = _deal_facts(rs, deal) | {
            "days": days,
            "last_date": _date(last),
            "last_subject": last_act.get("subject") if last_act else None,
            "close_date": close if near else None,
            "to_close": to_close if near else None,
        }
        variant = None if last else "never"
        if last and near:
            variant = "before_close"
        yield _signal(
            rs,
            cfg,
            "stale_deal",
            account_id=deal.get("account_id"),
            opportunity_id=deal["id"],
            value=_at_stake(deal, cfg),
            urgency=urgency,
            evidence=evidence,
            facts=facts,
            variant=variant,
            contact_id=_contact_of(rs, last_act),
        )


def _contact_of(rs: RecordSet, act: Row | None) -> int | None:
    """The visible contact an activity was with, so a follow-up goes back to the same person."""
    cid = act.get("contact_id") if act else None
    if cid is None or act is None:
        return None
    return int(cid) if any(c.get("id") == cid for c in _contacts(rs, act.get("account_id"))) else None


def _contacts(rs: RecordSet, account_id: Any) -> list[Row]:
    return rs.contacts.get(int(account_id), []) if account_id is not None else []


def close_date_passed(rs: RecordSet, cfg: SignalConfig) -> Iterator[Signal]:
    for deal in _open_deals(rs, cfg):
        close = _date(deal.get("close_date"))
        if close is None or close >= rs.today:
            continue
        days = (rs.today - close).days
        yield _signal(
            rs,
            cfg,
            "close_date_passed",
            account_id=deal.get("account_id"),
            opportunity_id=deal["id"],
            value=_at_stake(deal, cfg),
            urgency=urgency_past(days),
            evidence=[evidence_id("opportunity", deal["id"])],
            facts=_deal_facts(rs, deal) | {"close_date": close, "days": days},
        )


def stage_stuck(rs: RecordSet, cfg: SignalConfig) -> Iterator[Signal]:
    for deal in _open_deals(rs, cfg):
        norm = cfg.stage_norm_days.get(str(deal.get("stage")))
        entered = _date(deal.get("stage_entered_at"))
        if norm is None or entered is None:
            continue
        days = (rs.today - entered).days
        if days <= norm:
            continue
        yield _signal(
            rs,
            cfg,
            "stage_stuck",
            account_id=deal.get("account_id"),
            opportunity_id=deal["id"],
            value=_at_stake(deal, cfg),
            urgency=urgency_past(days - norm),
            evidence=[evidence_id("opportunity", deal["id"])],
            facts=_deal_facts(rs, deal) | {"days": days, "norm": norm, "entered": entered},
        )


def _competitor_patterns(cfg: SignalConfig, extra: str | None) -> list[tuple[str, re.Pattern[str]]]:
    pats: list[tuple[str, re.Pattern[str]]] = []
    names = dict(cfg.competitors)
    if extra and extra.strip() and not any(extra.strip() in aliases for aliases in names.values()):
        names[extra.strip()] = [extra.strip()]
    for canonical, aliases in names.items():
        for alias in aliases:
            # ASCII names need word boundaries ("ABB" must not match "ABBOTT"); CJK names do not have them.
            body = re.escape(alias)
            if alias.isascii():
                body = rf"(?<![A-Za-z]){body}(?![A-Za-z])"
            pats.append((canonical, re.compile(body, re.IGNORECASE)))
    return pats


def _is_move(cfg: SignalConfig, text: str) -> bool:
    low = text.lower()
    return any(cue.lower() in low for cue in cfg.competitor.moves)


def competitor_mentioned(rs: RecordSet, cfg: SignalConfig) -> Iterator[Signal]:
    """A competitor in the deal's recent activities. A *move* (they quoted, trial, are cheaper; the
    customer asks for a concession) is a live threat, most urgent when fresh; a bare mention ("could be
    undercut by X", "unhappy with X's service") is weighed down by ``mention_weight``."""
    cc = cfg.competitor
    for deal in _open_deals(rs, cfg):
        patterns = _competitor_patterns(cfg, deal.get("competitor"))
        found: dict[str, Row] = {}
        moves: list[Row] = []
        mentions: list[Row] = []
        recent_since = rs.today - dt.timedelta(days=cc.recent_days)
        for act in _deal_activities(rs, deal):  # newest first
            when = _date(act.get("occurred_at"))
            if when is None or when < recent_since:
                continue
            text = _text(act)
            hits = [canonical for canonical, pat in patterns if pat.search(text)]
            if not hits:
                continue
            for canonical in hits:
                found.setdefault(canonical, act)
            (moves if _is_move(cfg, text) else mentions).append(act)
        if not found:
            continue
        cited = moves or mentions
        latest = cited[0]
        age = (rs.today - (_date(latest.get("occurred_at")) or rs.today)).days
        urgency = cc.urgency_min + (cc.urgency_max - cc.urgency_min) * max(0, cc.recent_days - age) / cc.recent_days
        evidence = [evidence_id("opportunity", deal["id"])]
        evidence += [evidence_id("activity", a["id"]) for a in (moves + mentions)[:3]]
        names = [c for c, pat in patterns if c in found and pat.search(_text(latest))] or list(found)
        facts = _deal_facts(rs, deal) | {
            "competitors": "、".join(dict.fromkeys(names)),
            "competitors_en": ", ".join(dict.fromkeys(names)),
            "mention_date": _date(latest.get("occurred_at")),
            "mention_subject": latest.get("subject"),
            "mentions": len(moves) + len(mentions),
        }
        yield _signal(
            rs,
            cfg,
            "competitor_mentioned",
            account_id=deal.get("account_id"),
            opportunity_id=deal["id"],
            value=_at_stake(deal, cfg),
            urgency=urgency,
            evidence=evidence,
            facts=facts,
            variant="move" if moves else "mention",
            weight=1.0 if moves else cc.mention_weight,
            contact_id=_contact_of(rs, latest),
        )


def dispatch_failed(rs: RecordSet, cfg: SignalConfig) -> Iterator[Signal]:
    for opp_id in sorted(rs.deals):
        deal = rs.deals[opp_id]
        amount = _num(deal.get("amount"))
        # The threshold needs the amount: hidden amount → the asker cannot be told it is a large order.
        if deal.get("dispatch_status") != "发货失败" or amount is None or amount < cfg.dispatch_failed_min_amount:
            continue
        yield _signal(
            rs,
            cfg,
            "dispatch_failed",
            account_id=deal.get("account_id"),
            opportunity_id=opp_id,
            value=amount,
            urgency=None,
            evidence=[evidence_id("opportunity", opp_id)],
            facts=_deal_facts(rs, deal),
        )


# --- account-wide signals ----------------------------------------------------------------------


def _named_in(person: Row, act: Row) -> bool:
    name = person.get("name")
    return act.get("contact_id") == person.get("id") or bool(name and str(name) in _text(act))


def no_decision_maker(rs: RecordSet, cfg: SignalConfig) -> Iterator[Signal]:
    """A deal past early qualification whose decision maker is unknown (no contact has the role) or was
    never met (no visit or call with them on this deal or the account in the activity window)."""
    dm = cfg.decision_maker
    order = list(cfg.open_stages)
    start = order.index(dm.from_stage) if dm.from_stage in order else 0
    for deal in _open_deals(rs, cfg):
        # The deal's own notes saying the decision maker is not met count at any stage; the absence of a
        # meeting (or of a decision maker among the contacts) only once past early qualification.
        notes = [a for a in _deal_activities(rs, deal) if any(c.lower() in _text(a).lower() for c in dm.not_met_cues)]
        flagged = bool(notes)
        if order.index(str(deal.get("stage"))) < start and not flagged:
            continue
        account_id = deal.get("account_id")
        contacts = _contacts(rs, account_id)
        deciders = [c for c in contacts if c.get("decision_role") == dm.role]
        # Met in a meeting about a deal of the account counts: the rep knows the person as a buyer. A
        # check-in tied to no deal (a quarterly visit on the installed machines) is not a purchase talk.
        # When the deal's own note says the decision maker is not met yet, the rep's word stands over the
        # CRM's contact roles until a later meeting with them on this very deal.
        since = max((_when(a) for a in notes), default=None)
        meetings = [
            a
            for a in rs.activities
            if a.get("account_id") == account_id
            and a.get("kind") in dm.meeting_kinds
            and a.get("opportunity_id") is not None
            and (since is None or (a.get("opportunity_id") == deal["id"] and _when(a) > since))
        ]
        met = [c for c in deciders for a in meetings if _named_in(c, a)]
        if deciders and met:
            continue
        # The reason quotes the rep's note when there is one: the CRM's 决策者 may have been met while the
        # note says the person who really decides was not.
        variant = ("noted" if flagged else "never_met" if deciders else None) if contacts else "no_contacts"
        weight = dm.inferred_weight if variant == "never_met" else 1.0
        evidence = [evidence_id("opportunity", deal["id"])]
        if account_id in rs.accounts:
            evidence.append(evidence_id("account", account_id))
        evidence += [evidence_id("contact", c["id"]) for c in deciders]
        note = max(notes, key=_when) if notes else None
        if note is not None:
            evidence.append(evidence_id("activity", note["id"]))
        facts = _deal_facts(rs, deal) | {
            "contacts": len(contacts),
            "decider": deciders[0].get("name") if deciders else None,
            "decider_title": deciders[0].get("title") if deciders else None,
            "note_date": _date(note.get("occurred_at")) if note is not None else None,
            "note_subject": note.get("subject") if note is not None else None,
        }
        yield _signal(
            rs,
            cfg,
            "no_decision_maker",
            account_id=account_id,
            opportunity_id=deal["id"],
            value=_at_stake(deal, cfg),
            urgency=None,
            evidence=evidence,
            facts=facts,
            variant=variant,
            weight=weight,
        )


def receivables(rs: RecordSet, cfg: SignalConfig) -> Iterator[Signal]:
    """账期: an unpaid instalment overdue (receivable_overdue) or due within N days (receivable_due)."""
    for r in rs.receivables:
        due = _date(r.get("due_date"))
        if due is None:
            continue
        amount, paid = _num(r.get("amount")), _num(r.get("paid_amount"))
        if amount is not None and paid is not None:
            outstanding: float | None = amount - paid
            if outstanding is not None and outstanding <= 0:
                continue
        elif "paid_date" in r and r.get("paid_date") is None:
            outstanding = None  # unpaid, but how much is hidden from the asker
        else:
            continue
        days_left = (due - rs.today).days
        if days_left > cfg.receivable_due_days:
            continue
        contract = rs.contracts.get(int(r.get("contract_id") or 0), {})
        kind = "receivable_overdue" if days_left < 0 else "receivable_due"
        urgency = urgency_past(-days_left) if days_left < 0 else urgency_ahead(days_left, cfg.receivable_due_days)
        account_id = contract.get("account_id")
        opp_id = contract.get("opportunity_id")
        facts = {
            "account": rs.account_name(account_id),
            "contract": contract.get("number"),
            "seq": r.get("seq"),
            "milestone": r.get("milestone"),
            "due_date": due,
            "days": abs(days_left),
            "outstanding": Money(outstanding) if outstanding is not None else None,
            "opp": rs.deals.get(opp_id, {}).get("name") if opp_id else None,
        }
        evidence = [evidence_id("receivable", r["id"]), evidence_id("contract", r.get("contract_id"))]
        yield _signal(
            rs,
            cfg,
            kind,
            account_id=account_id,
            opportunity_id=opp_id,
            value=outstanding,
            urgency=urgency,
            evidence=evidence,
            facts=facts,
        )


def _month_back(month: dt.date, n: int) -> dt.date:
    y, m = divmod(month.year * 12 + month.month - 1 - n, 12)
    return dt.date(y, m + 1, 1)


def revenue_drop(rs: RecordSet, cfg: SignalConfig) -> Iterator[Signal]:
    """掉档预警: the last complete month against the month before, or the 3 months before on average.

    The current month is not complete yet, so comparing it would flag every account on the 1st.
    """
    ref = _month_back(rs.today.replace(day=1), 1)
    for account_id in sorted(rs.focus_account_ids):
        months = rs.revenues.get(account_id, {})
        cur_row = months.get(ref)
        if cur_row is None:
            continue  # no figure for the month: nothing measured, nothing claimed
        cur = _num(cur_row.get("amount"))
        prev_row = months.get(_month_back(ref, 1))
        prev = _num(prev_row.get("amount")) if prev_row else None
        window = [months.get(_month_back(ref, i)) for i in (1, 2, 3)]
        window_vals = [_num(w.get("amount")) for w in window if w is not None]
        avg3 = (
            sum(v for v in window_vals if v is not None) / 3
            if len(window_vals) == 3 and None not in window_vals
            else None
        )
        if cur is None:
            continue  # the amount is hidden from the asker
        best: tuple[float, str, float] | None = None
        for basis, base in (("prev", prev), ("avg3", avg3)):
            if base is None or base < cfg.revenue_drop.min_baseline:
                continue
            drop = (base - cur) / base * 100
            if drop >= cfg.revenue_drop.min_drop_pct and (best is None or drop > best[0]):
                best = (drop, basis, base)
        if best is None:
            continue
        drop, basis, base = best
        evidence = [evidence_id("account_revenue", cur_row["id"])]
        evidence += [evidence_id("account_revenue", w["id"]) for w in (window if basis == "avg3" else [prev_row]) if w]
        facts = {
            "account": rs.account_name(account_id),
            "month": f"{ref:%Y-%m}",
            "current": Money(cur),
            "baseline": Money(base),
            "drop_pct": round(drop),
        }
        yield _signal(
            rs,
            cfg,
            "revenue_drop",
            account_id=account_id,
            opportunity_id=None,
            value=(base - cur) * 12,
            urgency=None,
            evidence=evidence,
            facts=facts,
            variant=basis,
        )


def high_priority_ticket(rs: RecordSet, cfg: SignalConfig) -> Iterator[Signal]:
    for t in rs.tickets:
        priority = t.get("priority")
        if priority not in cfg.ticket_priorities or t.get("status") not in cfg.open_ticket_statuses:
            continue
        sla_due = t.get("sla_due")
        breached = isinstance(sla_due, dt.datetime) and sla_due.date() < rs.today
        account_id = t.get("account_id")
        facts = {
            "account": rs.account_name(account_id),
            "number": t.get("number"),
            "subject": t.get("subject"),
            "priority": priority,
            "node": t.get("process_node"),
            "assignee": rs.user_names.get(int(t["assignee_id"])) if t.get("assignee_id") else None,
            "sla_due": _date(sla_due),
        }
        # A service risk, not money at stake: value 0. A ticket on a machine of the product one of these
        # deals sells is about that deal (the customer judges our service on it); any other is service's job.
        # Only a ticket that threatens a deal weighs as that deal's risk: urgent, on a machine of the
        # product the deal sells, and opened recently (the customer is judging our service right now on
        # what we sell them). Any other is the service team's job, weighed as account-wide.
        product = rs.ticket_products.get(int(t["id"]))
        opened = _date(t.get("created_at"))
        related = (
            priority in cfg.ticket_threat_priorities
            and opened is not None
            and (rs.today - opened).days <= cfg.ticket_threat_recent_days
            and product is not None
            and any(d.get("product_id") == product for d in rs.deals_of(account_id))
        )
        yield _signal(
            rs,
            cfg,
            "high_priority_ticket",
            account_id=account_id,
            opportunity_id=None,
            value=0.0,
            urgency=min(2.0, cfg.ticket_priorities[priority] + (0.25 if breached else 0.0)),
            evidence=[evidence_id("ticket", t["id"])],
            facts=facts,
            variant="breached" if breached else None,
            relevance=cfg.related_ticket_relevance if related else None,
        )


def contract_renewal(rs: RecordSet, cfg: SignalConfig) -> Iterator[Signal]:
    for cid in sorted(rs.contracts):
        k = rs.contracts[cid]
        end = _date(k.get("end_date"))
        if end is None or k.get("status") not in (None, "执行中"):
            continue
        days_left = (end - rs.today).days
        if not 0 <= days_left <= cfg.contract_renewal_days:
            continue
        amount = _num(k.get("amount"))
        facts = {
            "account": rs.account_name(k.get("account_id")),
            "contract": k.get("number"),
            "end_date": end,
            "days": days_left,
            "amount": Money(amount) if amount is not None else None,
        }
        yield _signal(
            rs,
            cfg,
            "contract_renewal",
            account_id=k.get("account_id"),
            opportunity_id=k.get("opportunity_id"),
            value=amount,
            urgency=urgency_ahead(days_left, cfg.contract_renewal_days),
            evidence=[evidence_id("contract", cid)],
            facts=facts,
        )


def warranty_ending(rs: RecordSet, cfg: SignalConfig) -> Iterator[Signal]:
    for d in rs.devices:
        end = _date(d.get("warranty_end"))
        if end is None:
            continue
        days_left = (end - rs.today).days
        if not 0 <= days_left <= cfg.warranty_ending_days:
            continue
        product = rs.products.get(int(d.get("product_id") or 0), {})
        facts = {
            "account": rs.account_name(d.get("account_id")),
            "serial": d.get("serial"),
            "product": product.get("name"),
            "product_en": product.get("name_en"),
            "end_date": end,
            "days": days_left,
        }
        yield _signal(
            rs,
            cfg,
            "warranty_ending",
            account_id=d.get("account_id"),
            opportunity_id=None,
            value=_num(product.get("list_price")),
            urgency=urgency_ahead(days_left, cfg.warranty_ending_days),
            evidence=[evidence_id("device", d["id"])],
            facts=facts,
        )


RULES: tuple[Rule, ...] = (
    stale_deal,
    close_date_passed,
    stage_stuck,
    competitor_mentioned,
    dispatch_failed,
    no_decision_maker,
    receivables,
    revenue_drop,
    high_priority_ticket,
    contract_renewal,
    warranty_ending,
)


def evaluate(rs: RecordSet, cfg: SignalConfig, rules: Iterable[Rule] = RULES) -> list[Signal]:
    """Every signal the rules find, best first."""
    out = [s for rule in rules for s in rule(rs, cfg)]
    return sorted(out, key=Signal.sort_key)
