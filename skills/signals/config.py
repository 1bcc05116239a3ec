"""The signal engine's tunables, loaded from ``thresholds.yaml`` into a closed model.

Closed (``extra="forbid"``) so that a mistyped key in the YAML is an error at load time rather
than a threshold that silently keeps its default.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

THRESHOLDS_PATH = Path(__file__).with_name("thresholds.yaml")

SIGNAL_KINDS = (
    "receivable_overdue",
    "dispatch_failed",
    "high_priority_ticket",
    "close_date_passed",
    "revenue_drop",
    "receivable_due",
    "competitor_mentioned",
    "contract_renewal",
    "no_decision_maker",
    "stale_deal",
    "stage_stuck",
    "warranty_ending",
)


class KindConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    severity: float = Field(ge=1, le=10)
    account_wide: bool = False
    # Only for state signals, which have no deadline to measure urgency from.
    urgency: float = Field(default=1.0, ge=1.0, le=2.0)
    # How much an account-wide signal of this kind is about one deal of the account (1.0 = fully).
    relevance: float = Field(default=1.0, gt=0, le=1.0)


class CompetitorConfig(BaseModel):
    """Competitor moves vs mere mentions in activity texts (see rules.competitor_mentioned)."""

    model_config = ConfigDict(extra="forbid")
    recent_days: int = Field(default=45, ge=1)
    # Words that make a mention a *move*: the competitor quoted, is trialling, is cheaper, the customer
    # asks for a concession. A mention without any of them ("could be undercut", "unhappy with X's
    # service") is weighed by ``mention_weight``.
    moves: list[str]
    mention_weight: float = Field(default=0.3, gt=0, le=1.0)
    urgency_min: float = Field(default=1.2, ge=1.0, le=2.0)
    urgency_max: float = Field(default=1.8, ge=1.0, le=2.0)


class StaleConfig(BaseModel):
    """Silence on a deal: a shorter fuse as its close date comes near."""

    model_config = ConfigDict(extra="forbid")
    days: int = Field(default=21, ge=1)
    near_close_days: int = Field(default=14, ge=1)
    close_horizon_days: int = Field(default=45, ge=1)


class DecisionMakerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = "决策者"
    # From this stage on a deal needs its decision maker met (early qualification may not have one yet).
    from_stage: str = "需求确认"
    # Activity kinds that count as having met someone (an e-mail or an internal note does not).
    meeting_kinds: list[str] = Field(default_factory=lambda: ["visit", "call", "meeting"])
    # "Never met" read only from the absence of a visit or call is weighed by ``inferred_weight``; when the
    # deal's own notes say so ("真正拍板的人还没见到"), it has full weight.
    not_met_cues: list[str] = Field(default_factory=list)
    inferred_weight: float = Field(default=0.7, gt=0, le=1.0)


class RevenueDropConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_drop_pct: float = Field(default=30, gt=0, lt=100)
    min_baseline: float = Field(default=10000, ge=0)


class SignalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value_unit: float = Field(default=1_000_000, gt=0)
    recent_activity_window_days: int = Field(default=90, ge=1)
    stale: StaleConfig = Field(default_factory=StaleConfig)
    competitor: CompetitorConfig
    decision_maker: DecisionMakerConfig = Field(default_factory=DecisionMakerConfig)
    # The money at stake in a deal risk: amount × the weight of the deal's stage (a 10% lead is not yet
    # the customer's money; a deal in negotiation nearly is).
    stage_weight: dict[str, float]
    # A ticket that threatens the deal (of these priorities, on the product it sells, opened within
    # the last N days) weighs like the deal's own risk; any other is the service team's job.
    related_ticket_relevance: float = Field(default=1.0, gt=0, le=1.0)
    ticket_threat_priorities: list[str] = Field(default_factory=lambda: ["urgent"])
    ticket_threat_recent_days: int = Field(default=14, ge=0)
    won_lookback_days: int = Field(default=365, ge=0)
    receivable_due_days: int = Field(default=7, ge=0)
    contract_renewal_days: int = Field(default=90, ge=1)
    warranty_ending_days: int = Field(default=60, ge=1)
    dispatch_failed_min_amount: float = Field(default=500_000, ge=0)
    revenue_drop: RevenueDropConfig = Field(default_factory=RevenueDropConfig)
    stage_norm_days: dict[str, int]
    open_stages: list[str]
    won_stages: list[str]
    competitors: dict[str, list[str]]
    ticket_priorities: dict[str, float]
    open_ticket_statuses: list[str]
    kinds: dict[str, KindConfig]
    contact_preference: dict[str, list[str]]

    @model_validator(mode="after")
    def _every_kind_configured(self) -> SignalConfig:
        missing = set(SIGNAL_KINDS) - set(self.kinds)
        unknown = set(self.kinds) - set(SIGNAL_KINDS)
        if missing or unknown:
            raise ValueError(f"kinds: missing {sorted(missing)}, unknown {sorted(unknown)}")
        if "default" not in self.contact_preference:
            raise ValueError("contact_preference needs a 'default' list")
        return self

    def preferred_roles(self, kind: str) -> list[str]:
        return self.contact_preference.get(kind, self.contact_preference["default"])


def load_config(path: Path | None = None) -> SignalConfig:
    raw = yaml.safe_load((path or THRESHOLDS_PATH).read_text(encoding="utf-8"))
    return SignalConfig.model_validate(raw)


@lru_cache(maxsize=1)
def default_config() -> SignalConfig:
    return load_config()
