"""One signal and its score.

    score = severity × value_factor × urgency × relevance

* ``severity`` (1–10) is per signal kind, from thresholds.yaml: how bad this kind of thing is.
* ``value_factor = 1 + log10(1 + value / value_unit)``: the money at stake that the asker may see
  (deal amount, unpaid instalment, lost monthly revenue ×12 …). Logarithmic so that a ¥10M deal
  weighs about twice a ¥0 one, not a thousand times: value breaks ties between risks of the same
  kind, it does not let a big quiet deal bury an overdue payment. A value hidden from the asker by
  field-level security counts as 0, so the ranking never depends on what they may not see.
* ``urgency`` (1.0–2.0): ``urgency_ahead`` for a deadline still ahead, ``urgency_past`` for a
  deadline passed or a threshold exceeded, or a fixed per-kind value for state signals.
* ``relevance`` (0–1): how much the signal is about *this deal* — 1.0 for the deal's own risk (its
  silence, its competitor, its close date) and for money the customer owes; less for an account-wide
  item that is someone else's job (a ticket on another machine, a renewal, a warranty). A sales
  manager's question is "what should the rep do first on this deal", not "what is wrong anywhere".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

URGENCY_MIN, URGENCY_MAX = 1.0, 2.0
PAST_SATURATION_DAYS = 60


def value_factor(value: float, unit: float) -> float:
    return 1.0 + math.log10(1.0 + max(value, 0.0) / unit)


def urgency_ahead(days_left: int, horizon: int) -> float:
    """A deadline ``days_left`` ahead (0 = today): 1.5 when it is today, 1.0 at the horizon."""
    d = min(max(days_left, 0), horizon)
    return 1.0 + 0.5 * (horizon - d) / horizon if horizon > 0 else 1.5


def urgency_past(days_past: int) -> float:
    """A deadline passed (or a threshold exceeded) ``days_past`` ago: 1.5 rising to 2.0 at 60 days."""
    d = min(max(days_past, 0), PAST_SATURATION_DAYS)
    return 1.5 + 0.5 * d / PAST_SATURATION_DAYS


@dataclass(frozen=True)
class Signal:
    """A deterministic fact that calls for an action. ``facts`` holds only values the asker may see
    (the rules read FLS-masked records), typed (str, int, date, Money) and formatted at render time."""

    kind: str
    account_id: int | None
    opportunity_id: int | None
    severity: float
    value: float
    urgency: float
    value_unit: float
    evidence: tuple[str, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)
    variant: str | None = None  # a message variant, e.g. "never" for a deal with no activity at all
    contact_id: int | None = None  # whom a customer-facing draft goes to
    account_wide: bool = False
    relevance: float = 1.0

    @property
    def score(self) -> float:
        return round(self.severity * value_factor(self.value, self.value_unit) * self.urgency * self.relevance, 2)

    def sort_key(self) -> tuple[float, str]:
        # Score, then kind. Equal keys keep the rules' own order (sorted() is stable), which is the
        # meaningful one: tickets by SLA due, instalments by due date, deals by id.
        return (-self.score, self.kind)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "score": self.score,
            "severity": self.severity,
            "value": round(self.value, 2),
            "urgency": round(self.urgency, 3),
            "relevance": round(self.relevance, 3),
            "account_id": self.account_id,
            "opportunity_id": self.opportunity_id,
            "evidence": list(self.evidence),
            "facts": {k: _plain(v) for k, v in self.facts.items()},
        }


class Money(float):
    """An amount in CNY, formatted per locale when rendered."""


def _plain(value: Any) -> Any:
    if isinstance(value, Money):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
