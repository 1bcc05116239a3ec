"""ragas runs in the installed environment, offline, and its scores move with the behaviour they judge;
the retrieval and skills suites report them next to our own metrics."""

from __future__ import annotations

import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from eval import ragas_metrics
from eval.ragas_metrics import Scores, id_context_scores, mean, string_scores


def test_ragas_is_installed_and_offline_metrics_import() -> None:
    import instructor  # noqa: F401  # installed --no-deps next to ragas; must still import
    import ragas

    assert ragas.__version__.startswith("0.4.")
    metrics = ragas_metrics._ragas()
    assert {"id_context_precision", "id_context_recall", "string_presence", "string_similarity"} <= set(metrics)


def test_perfect_retrieval_scores_one() -> None:
    s = id_context_scores(["doc:a", "crm:ticket:1"], ["crm:ticket:1", "doc:a"])
    assert s.values == {"id_context_precision": 1.0, "id_context_recall": 1.0} and not s.notes


def test_a_missing_relevant_id_lowers_recall_and_an_irrelevant_one_lowers_precision() -> None:
    missing = id_context_scores(["doc:a"], ["doc:a", "doc:b"])
    assert missing.values == {"id_context_precision": 1.0, "id_context_recall": 0.5}
    irrelevant_first = id_context_scores(["doc:x", "doc:a", "doc:b"], ["doc:a", "doc:b"])
    assert irrelevant_first.values["id_context_recall"] == 1.0
    assert irrelevant_first.values["id_context_precision"] == pytest.approx(2 / 3)


def test_nothing_retrieved_scores_zero_with_a_note_and_no_labels_scores_nothing() -> None:
    empty = id_context_scores([], ["doc:a"])  # ragas itself would return NaN for precision
    assert empty.values == {"id_context_precision": 0.0, "id_context_recall": 0.0}
    assert empty.notes and "0.0" in empty.notes[0]
    unlabelled = id_context_scores(["doc:a"], [])
    assert unlabelled.values == {} and unlabelled.notes


def test_a_fact_absent_from_the_answer_lowers_string_presence() -> None:
    answer = "工单 GD202611190001\n当前环节：新建。由周建国负责跟进"
    all_there = string_scores(["GD202611190001", "新建"], answer)
    assert all_there.values["string_presence"] == 1.0
    one_missing = string_scores(["GD202611190001", "郑凯"], answer)
    assert one_missing.values["string_presence"] == 0.5
    # similarity: against the closest segment; a segment that *is* the fact scores 1.0
    assert string_scores(["工单 GD202611190001"], answer).values["string_similarity"] == 1.0
    assert 0.0 < string_scores(["新建"], answer).values["string_similarity"] < 1.0


def test_mean_is_per_case_for_ids_and_per_fact_for_strings() -> None:
    a = string_scores(["x", "y", "z"], "x", id_context_scores(["d1"], ["d1"]))  # 1 of 3 facts
    b = string_scores(["q"], "q", id_context_scores(["d2"], ["d1"]))  # 1 of 1 fact
    out = mean([a, b], prefix="skill.")
    assert out["skill.ragas.id_context_recall"] == 0.5
    assert out["skill.ragas.string_presence"] == 0.5  # 2 of 4 facts, not (1/3 + 1) / 2
    assert mean([Scores()]) == {}


# ---- the suites carry the ragas keys (stand-in search and turns; the suite code is the real one) ----


def test_retrieval_suite_reports_ragas_per_language() -> None:
    from copilot.crm.permissions import AclScope
    from eval.retrieval import Question, demo_principals, evaluate

    def hit(doc_id: str) -> Any:
        return types.SimpleNamespace(doc_id=doc_id)

    results = {"good": [hit("a"), hit("x")], "late": [hit("x"), hit("y"), hit("z"), hit("w"), hit("v"), hit("b")]}

    def search(query: str, scope: AclScope, k: int) -> Sequence[Any]:
        return results[query]

    questions = [
        Question("q1", "zh", "good", ("a",), "service_agent_1"),
        Question("q2", "en", "late", ("b",), "service_agent_1"),
    ]
    m = evaluate(search, questions, demo_principals())["metrics"]
    assert m["zh.ragas.id_context_recall@5"] == 1.0 and m["zh.ragas.id_context_precision@5"] == 0.5
    assert m["en.ragas.id_context_recall@5"] == 0.0  # the relevant doc is 6th: outside the top 5
    assert m["all.ragas.id_context_recall@5"] == 0.5


def _case(cid: str) -> Any:
    from eval.cases import Case

    return Case.model_validate({
        "id": cid, "vars": {"persona": "service_agent_1", "page": "ticket:1", "message": cid},
        "assert": [{"type": "facts", "must_include": ["A-17", "RB20-2026-0071"]},
                   {"type": "citations", "ids": ["crm:ticket:1", "doc:robot-a17"]}],
    })


def test_skill_sets_report_ragas_next_to_ours_and_gate_recall() -> None:
    """Per set: ragas' ID precision/recall of the citations (kb chunks read as their doc) and string presence of
    the facts, next to our own facts/citations scores; the skill datasets gate ragas' recall."""
    from eval import cases as c
    from eval.judge import Check
    from eval.suites import _ragas, summarise
    from skills.base import Citation, SkillResult

    complete = SkillResult(
        skill="troubleshoot", answer="报警 A-17\n序列号 RB20-2026-0071",
        citations=[Citation(type="crm", id="crm:ticket:1", title="t"),
                   Citation(type="kb", id="kb:robot-a17#0001-ab", title="k"),
                   Citation(type="kb", id="kb:robot-a17#0002-cd", title="k")],
    )
    partial = SkillResult(
        skill="troubleshoot", answer="报警 A-17",
        citations=[Citation(type="crm", id="crm:product:3", title="p"),
                   Citation(type="crm", id="crm:ticket:1", title="t")],
    )
    rows = []
    for name, result, facts in (("complete", complete, 1.0), ("partial", partial, 0.5)):
        rows.append({"ok": facts == 1.0, "ms": 1.0, "leaks": [], "error": None, "forbidden": [], "not_retrieved": False,
                     "_ragas": _ragas(_case(name), result), "_checks": [Check("facts", facts, facts == 1.0)]})
    m = summarise("troubleshoot", rows)
    # complete: cites ticket + doc (2 chunks of one doc count once) → P = R = 1; partial: product + ticket → P = R = .5
    assert m["troubleshoot.ragas.id_context_recall"] == 0.75
    assert m["troubleshoot.ragas.id_context_precision"] == 0.75
    assert m["troubleshoot.ragas.string_presence"] == 0.75  # 3 of 4 facts
    assert 0.0 < m["troubleshoot.ragas.string_similarity"] <= 1.0
    assert m["troubleshoot.facts"] == 0.75  # ours agrees with ragas' string presence here
    ds = c.dataset("troubleshoot")
    assert ds is not None and ds.gates["ragas.id_context_recall"].min == 0.9


def test_the_html_report_shows_ragas_metrics(tmp_path: Path) -> None:
    from eval.runner import SuiteReport, to_json, write_html

    metrics = {"record_qa.facts": 1.0, "record_qa.ragas.id_context_precision": 0.6363}
    report = SuiteReport("record_qa", metrics, {"record_qa.facts": {"min": 0.9}})
    write_html(to_json([report], []), tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert '<code>record_qa.ragas.id_context_precision</code></td><td class="num">0.6363' in html
    assert "are ragas' (offline, no LLM)" in html
