"""ragas scores for the offline harness: our cases as ragas ``SingleTurnSample``s, scored without an LLM.

The suites hand over what they already computed (retrieved or cited ids, the answer text, the case's
labels); this module builds the samples, scores them with ragas' own metric classes and returns plain
numbers. Names are ``ragas.<metric>``; the suites put their prefix (language, skill) in front.

ragas metrics used (all deterministic, no model, no network):

* ``IDBasedContextPrecision`` → ``ragas.id_context_precision``: the share of retrieved/cited ids that
  are in the labelled reference ids (a set measure: rank-blind, duplicates count once).
* ``IDBasedContextRecall`` → ``ragas.id_context_recall``: the share of reference ids that were
  retrieved/cited.
* ``StringPresence`` → ``ragas.string_presence``: an expected fact occurs verbatim in the response
  (one sample per fact; the mean is over facts).
* ``NonLLMStringSimilarity`` (Levenshtein) → ``ragas.string_similarity``: each expected fact against
  the segment of the response (a line, or a sentence ending in 。；;) closest to it. 1.0 means some
  segment *is* the fact; a fact embedded in a longer line scores lower, so the number is advisory
  (a drift signal for wording), not a pass/fail measure.

Not in the offline run: ragas' LLM-judged metrics (``Faithfulness``, ``ResponseRelevancy``/answer
relevancy, ``LLMContextPrecision*``, ``FactualCorrectness``, ...). They need a judge model (and
answer relevancy an embedding endpoint) through ragas' LLM wrappers and instructor; the harness runs
offline and must give the same numbers on every run, and anything a model judges would be advisory
anyway (eval/runner.py). They can be added to a separate, online run without touching this module's
callers.

Degenerate inputs never crash a suite: nothing retrieved/cited (ragas returns NaN for precision) or a
metric that raises ``ValueError`` scores 0.0 and the case gets a note saying why.

ragas is imported lazily (it takes seconds) with ``RAGAS_DO_NOT_TRACK`` defaulting to ``true``; it is
installed by ``make install`` from eval/requirements-ragas.txt (see that file for why ragas and
instructor are installed with ``--no-deps``).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

PREFIX = "ragas."
_SEGMENT = re.compile(r"[\n。；;]+")


@dataclass
class Scores:
    """One case's ragas scores (``{metric: value}``, unprefixed) and notes on anything scored 0.0 by us."""

    values: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # per-fact metrics are averaged over facts, not cases: keep their parts
    fact_scores: dict[str, list[float]] = field(default_factory=dict)


@cache
def _ragas() -> dict[str, Any]:
    """The ragas sample class and metric instances (imported once, on first use)."""
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    try:
        from ragas import SingleTurnSample

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # ragas 0.4.3 warns on every ragas.metrics import
            from ragas.metrics import (
                IDBasedContextPrecision,
                IDBasedContextRecall,
                NonLLMStringSimilarity,
                StringPresence,
            )
    except ImportError as exc:
        raise ImportError(
            f"ragas is not importable ({exc}); `make install` installs it from eval/requirements-ragas.txt"
        ) from exc
    return {
        "sample": SingleTurnSample,
        "id_context_precision": IDBasedContextPrecision(),
        "id_context_recall": IDBasedContextRecall(),
        "string_presence": StringPresence(),
        "string_similarity": NonLLMStringSimilarity(),
    }


def _score(name: str, sample: Any, notes: list[str]) -> float:
    try:
        value = float(_ragas()[name].single_turn_score(sample))
    except ValueError as exc:
        notes.append(f"{name}: {exc}; scored 0.0")
        return 0.0
    if math.isnan(value):
        notes.append(f"{name}: ragas returned NaN; scored 0.0")
        return 0.0
    return value


def id_context_scores(retrieved: Sequence[str], reference: Sequence[str], scores: Scores | None = None) -> Scores:
    """IDBasedContextPrecision/Recall of ``retrieved`` ids against the labelled ``reference`` ids."""
    scores = scores or Scores()
    if not reference:
        scores.notes.append("no reference ids: ID-based context metrics not scored")
        return scores
    if not retrieved:
        scores.values.update(id_context_precision=0.0, id_context_recall=0.0)
        scores.notes.append("nothing retrieved or cited: ID-based context precision and recall scored 0.0")
        return scores
    sample = _ragas()["sample"](retrieved_context_ids=list(retrieved), reference_context_ids=list(reference))
    for name in ("id_context_precision", "id_context_recall"):
        scores.values[name] = _score(name, sample, scores.notes)
    return scores


def _closest_segment(fact: str, response: str) -> str:
    from rapidfuzz.distance import Levenshtein

    segments = [s.strip() for s in _SEGMENT.split(response) if s.strip()] or [response]
    return min(segments, key=lambda s: Levenshtein.normalized_distance(fact, s))


def string_scores(facts: Sequence[str], response: str, scores: Scores | None = None) -> Scores:
    """StringPresence and NonLLMStringSimilarity of each expected fact against the response text."""
    scores = scores or Scores()
    sample_cls = _ragas()["sample"]
    for fact in facts:
        presence = sample_cls(response=response, reference=fact)
        closest = sample_cls(response=_closest_segment(fact, response), reference=fact)
        scores.fact_scores.setdefault("string_presence", []).append(_score("string_presence", presence, scores.notes))
        scores.fact_scores.setdefault("string_similarity", []).append(
            _score("string_similarity", closest, scores.notes)
        )
    for name, values in scores.fact_scores.items():
        scores.values[name] = sum(values) / len(values)
    return scores


def mean(cases: Iterable[Scores], prefix: str = "") -> dict[str, float]:
    """``{prefix + "ragas." + metric: mean}``: ID-based metrics averaged over the cases that have them,
    per-fact metrics over all facts. Metrics no case has are left out."""
    per_case: dict[str, list[float]] = {}
    per_fact: dict[str, list[float]] = {}
    for s in cases:
        for name, value in s.values.items():
            if name not in s.fact_scores:
                per_case.setdefault(name, []).append(value)
        for name, values in s.fact_scores.items():
            per_fact.setdefault(name, []).extend(values)
    out = {name: sum(v) / len(v) for name, v in (per_case | per_fact).items() if v}
    return {f"{prefix}{PREFIX}{name}": round(value, 4) for name, value in sorted(out.items())}


def as_row(scores: Scores) -> dict[str, Any]:
    """The case row's view: rounded scores, plus notes when there are any."""
    row: dict[str, Any] = {name: round(v, 4) for name, v in scores.values.items()}
    if scores.notes:
        row["notes"] = scores.notes
    return row

