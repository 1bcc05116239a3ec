"""Deterministic next-best-action signals: thresholds as data, one small rule per signal kind.

``load_records`` fetches the visible, FLS-masked neighbourhood of some deals/accounts;
``evaluate`` runs the rules over it and returns scored ``Signal``s, best first; ``to_action`` renders
one as an ``Action`` in the asker's locale.
"""

from skills.signals.config import SignalConfig, default_config, load_config
from skills.signals.records import RecordSet, evidence_id, load_records
from skills.signals.render import to_action
from skills.signals.rules import RULES, evaluate
from skills.signals.scoring import Money, Signal, urgency_ahead, urgency_past, value_factor

__all__ = [
    "RULES",
    "Money",
    "RecordSet",
    "Signal",
    "SignalConfig",
    "default_config",
    "evaluate",
    "evidence_id",
    "load_config",
    "load_records",
    "to_action",
    "urgency_ahead",
    "urgency_past",
    "value_factor",
]
