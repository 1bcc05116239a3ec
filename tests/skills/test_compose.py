"""compose and clarify: the shared path from facts to a rendered, audited answer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from copilot.crm.principal import load_principal
from copilot.llm.gateway import LLMResult
from copilot.llm.structured import JsonSchema
from copilot.service.runtime import Runtime
from prompts.registry import RenderedPrompt
from retrievers.facts import Fact
from skills.base import Locale, SkillContext, SkillRequest, load_specs
from skills.compose import clarify, compose
from skills.ports import Composer, TextStream

FACT = Fact(
    id="crm:contact:1",
    type="crm",
    title="联系人 彭建华",
    text="职位: 厂长",
    meta={"object_type": "contact", "fields": {"name": "彭建华", "title": "厂长"}},
)
LINES = {"heading": "决策链", "lines": [{"id": FACT.id, "text": "联系人 彭建华（职位: 厂长）"}]}


class RecordingComposer:
    """A Composer (skills.ports) standing for a model: keeps what compose sends it, answers one line."""

    is_offline = False

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def run(
        self,
        prompt: RenderedPrompt,
        *,
        names: Iterable[str] = (),
        json_schema: JsonSchema | None = None,
        injection_detected: bool = False,
        flagged_documents: Sequence[str] = (),
    ) -> LLMResult:
        self.calls.append({"prompt": prompt, "names": list(names), "json_schema": json_schema})
        return LLMResult(text="model says hi", provider="openai", model="recording")

    def stream(self, prompt: RenderedPrompt, **_: Any) -> TextStream:
        raise AssertionError("compose streams only for a token sink")


def _ctx(runtime: Runtime, session: Session, locale: Locale = "zh", composer: Composer | None = None) -> SkillContext:
    """The context exactly as a turn builds it (Assistant.context), optionally with another composer."""
    return runtime.assistant.context(session, load_principal(session, "rep_east_1"), locale=locale, composer=composer)


def test_compose_offline_records_prompt_facts_and_timings(skills_runtime: Runtime) -> None:
    with skills_runtime.sessions() as session:
        ctx = _ctx(skills_runtime, session)
        out = compose(ctx, "record_qa", {"question": "决策人是谁", "sections": [LINES]}, [FACT], version=2)
    assert (out.prompt.id, out.prompt.version) == ("record_qa", "2")
    assert len(out.hash) == 64 and out.provider == "offline" and not out.degraded
    assert "彭建华" in out.text and "[crm:contact:1]" in out.text
    assert FACT.id in ctx.retrieved  # remembered, so the assistant keeps the citation
    assert {"render", "compose"} <= set(ctx.timings_ms)


def test_compose_masks_contact_names_when_a_model_answers(skills_runtime: Runtime) -> None:
    gateway = RecordingComposer()
    with skills_runtime.sessions() as session:
        out = compose(
            _ctx(skills_runtime, session, "en", composer=gateway),
            "record_qa",
            {"question": "who decides?", "sections": [LINES]},
            [FACT],
            version=2,
        )
    assert out.text == "model says hi" and out.provider == "openai"
    assert gateway.calls[0]["names"] == ["彭建华"]
    assert gateway.calls[0]["prompt"].locale == "en"


def test_clarify_offers_the_options_as_actions(skills_runtime: Runtime) -> None:
    specs = load_specs()
    options = [specs["record_qa"], specs["next_best_action"]]
    with skills_runtime.sessions() as session:
        result = clarify(_ctx(skills_runtime, session), SkillRequest(message="这个怎么弄"), options)
    assert result.skill == "clarify" and result.prompt is not None and result.prompt.id == "router_clarify"
    assert [a.draft for a in result.actions] == ["record_qa", "next_best_action"]
    assert "记录问答与客户简报" in result.answer and "下一步行动建议" in result.answer


def test_skills_eval_meets_its_floors(skills_runtime: Runtime) -> None:
    """Our 140-odd cases (zh and en) through Assistant.turn: recall floors, zero leaks and banned terms."""
    from eval.runner import check_gates
    from eval.skills_eval import run_suite

    report = run_suite(skills_runtime, include_others=False)
    metrics = report["metrics"]
    for skill in ("record_qa", "troubleshoot", "reply_suggestion", "marketing_copy"):
        assert metrics[f"{skill}.cases"] >= 25
        assert metrics[f"{skill}.fls_leaks"] == 0 and metrics[f"{skill}.banned_terms"] == 0
    assert check_gates(metrics, report["gates"]) == [], [c for c in report["cases"] if not c.get("ok")]
