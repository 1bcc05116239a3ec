"""ragas' LLM-judged metrics per skill, advisory: faithfulness, answer relevancy, context precision.

``crm-copilot eval run --judge-base-url URL [--judge-model M] [--judge-api-key K]``: after the suites,
every answered case of the skill suites becomes a ragas ``SingleTurnSample`` (the user's message, the
answer, the retrieved context as text: the cited knowledge-base chunks and the cited CRM records as the
asker sees them) and is scored by a judge model behind any OpenAI-compatible endpoint (answer relevancy
also embeds, through the same endpoint's ``/embeddings``). The numbers are reported, never gated: a
model's judgement varies between runs and models.

Nothing leaves for anywhere but the judge's URL: ragas' telemetry is off (``RAGAS_DO_NOT_TRACK``),
LangChain tracing is off, the embeddings client never fetches a tokenizer (``check_embedding_ctx_length``
off), and the clients do not retry.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from copilot.service.runtime import Runtime
    from eval.runner import SuiteReport

METRICS = ("faithfulness", "answer_relevancy", "context_precision")
SKILL_SUITES = ("record_qa", "troubleshoot", "reply_suggestion", "marketing_copy", "next_best_action")
PER_SKILL = 12  # samples judged per skill: enough for a trend, cheap on a paid endpoint


def _quiet() -> None:
    os.environ["RAGAS_DO_NOT_TRACK"] = "true"
    os.environ["LANGCHAIN_TRACING_V2"] = "false"
    os.environ["LANGSMITH_TRACING"] = "false"
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def contexts_of(runtime: Runtime, row: dict[str, Any]) -> list[str]:
    """The text behind each citation of the row's answer, as the asker may read it."""
    from copilot.crm.permissions import model_for, visible_dict
    from copilot.crm.principal import load_principal

    out: list[str] = []
    with runtime.sessions() as session:
        principal = load_principal(session, row["persona"])
        kb_ids = [c for c in row.get("citations", []) if c.startswith("kb:")]
        if kb_ids:
            hits = runtime.kb.search_as(principal, row["message"] or "", 20, per_document=None)
            by_chunk = {f"kb:{h.doc_id}#{h.chunk_id}": h.text for h in hits}
            by_chunk |= {f"kb:{h.chunk_id}": h.text for h in hits}
            out += [by_chunk[c] for c in kb_ids if c in by_chunk]
        for ref in row.get("citations", []):
            if not ref.startswith("crm:"):
                continue
            _, object_type, rid = ref.split(":", 2)
            try:
                record = session.get(model_for(object_type), int(rid))
            except (KeyError, ValueError):
                continue
            if record is not None:
                out.append(
                    json.dumps(visible_dict(principal, object_type, record), ensure_ascii=False, default=str)[:1500]
                )
    return out


def _clients(base_url: str, model: str, api_key: str) -> tuple[Any, Any]:
    from langchain_openai import ChatOpenAI, OpenAIEmbeddings
    from pydantic import SecretStr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.embeddings import LangchainEmbeddingsWrapper
        from ragas.llms import LangchainLLMWrapper

    llm = ChatOpenAI(base_url=base_url, api_key=api_key, model=model, max_retries=0, timeout=120, temperature=0)  # type: ignore[arg-type]
    emb = OpenAIEmbeddings(
        base_url=base_url,
        api_key=SecretStr(api_key),
        model=model,
        max_retries=0,  # type: ignore[arg-type]
        check_embedding_ctx_length=False,
        tiktoken_enabled=False,
    )
    return LangchainLLMWrapper(llm), LangchainEmbeddingsWrapper(emb)


def _metrics(llm: Any, emb: Any) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.metrics import Faithfulness, LLMContextPrecisionWithoutReference, ResponseRelevancy

    return {
        "faithfulness": Faithfulness(llm=llm),
        "answer_relevancy": ResponseRelevancy(llm=llm, embeddings=emb, strictness=1),
        "context_precision": LLMContextPrecisionWithoutReference(llm=llm),
    }


def judged_metrics(
    reports: list[SuiteReport],
    base_url: str,
    model: str,
    api_key: str,
    runtime: Runtime | None = None,
    per_skill: int = PER_SKILL,
) -> dict[str, Any]:
    """``{base_url, model, metric_names, per_skill: {skill: {samples, <metric>: mean}}, notes}``."""
    _quiet()
    from ragas import SingleTurnSample

    llm, emb = _clients(base_url, model, api_key)
    metrics = _metrics(llm, emb)
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[str, int] = defaultdict(int)
    notes: list[str] = []
    for report in reports:
        if report.name not in SKILL_SUITES:
            continue
        rows = [r for r in report.cases if r.get("skill") == report.name and not r.get("error") and r.get("answer")]
        for row in rows[:per_skill]:
            contexts = contexts_of(runtime, row) if runtime is not None else list(row.get("context", []))
            if not contexts:
                continue
            sample = SingleTurnSample(
                user_input=row["message"] or "", response=row["answer"], retrieved_contexts=contexts
            )
            counts[report.name] += 1
            for name, metric in metrics.items():
                try:
                    value = float(metric.single_turn_score(sample))
                except Exception as exc:
                    notes.append(f"{report.name}/{row['id']} {name}: {type(exc).__name__}: {str(exc)[:120]}")
                    continue
                if not math.isnan(value):
                    scores[report.name][name].append(value)
    per = {
        skill: {"samples": counts[skill]}
        | {m: (sum(v) / len(v) if v else None) for m in METRICS for v in [scores[skill][m]]}
        for skill in counts
    }
    return {
        "base_url": base_url,
        "model": model,
        "metric_names": list(METRICS),
        "per_skill": per,
        "notes": notes[:50],
        "advisory": True,
    }
