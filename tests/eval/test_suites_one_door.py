"""The evaluation suites go through the product's door: every retrieval question is a search as a real
user of the demo database (Assistant.search_knowledge, one audit row each), and the deterministic skill
cases are Assistant.turn calls (one audit row each, on the pinned demo day)."""

from __future__ import annotations

from sqlalchemy import func, select

from copilot.service.runtime import Runtime
from copilot.store.models import AuditEvent
from tests.skills.skill_support import skills_runtime  # noqa: F401  (the shared demo runtime fixture)


def _rows(runtime: Runtime, skill: str) -> int:
    with runtime.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.skill == skill)) or 0)


def test_retrieval_suite_searches_through_the_door(skills_runtime: Runtime) -> None:  # noqa: F811
    from eval.retrieval import load_questions, run_suite

    before = _rows(skills_runtime, "kb_search")
    report = run_suite(skills_runtime)
    questions = load_questions()
    assert report["metrics"]["all.n"] == len(questions)
    assert _rows(skills_runtime, "kb_search") == before + len(questions)


def test_skill_cases_are_turns_with_audit_rows(skills_runtime: Runtime) -> None:  # noqa: F811
    from copilot.demo.generator import DEMO_TODAY
    from eval.skill_cases import load_cases, run_all

    before = _rows(skills_runtime, "ticket_lookup")
    report = run_all(skills_runtime, DEMO_TODAY, skills=("ticket_lookup",))
    assert report["ticket_lookup"]["cases"] == len(load_cases("ticket_lookup"))
    # Every case that was answered left its row (refusals leave none: nothing was shown).
    answered = report["ticket_lookup"]["cases"] - sum(
        1 for f in report["ticket_lookup"]["failures"] if str(f.get("got", "")).startswith("error")
    )
    assert _rows(skills_runtime, "ticket_lookup") - before >= answered > 0
