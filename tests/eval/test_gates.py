"""The harness on a fresh demo, gated: the quick subset passes; a planted permission bug fails the leak
gate; a deliberately broken template fails its skill's gate and shows in the version comparison; judged
metrics come from a fake judge over loopback only; thumbs-down turns become draft cases."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from copilot.service.runtime import Runtime
from eval import cases as c
from eval.fresh import build, fresh_settings
from eval.runner import check_gates, run_suites

BROKEN_OFFLINE = "{{ record_title }}：已收到您的问题，稍后回复。\n"


@pytest.fixture(scope="module")
def eval_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = build(fresh_settings(tmp_path_factory.mktemp("eval-demo")))
    yield runtime
    runtime.close()


def test_the_fresh_demo_is_not_the_configured_one(eval_runtime: Runtime) -> None:
    s = eval_runtime.settings
    assert str(s.data_dir) in str(s.resolved_database_url) and str(s.data_dir) in str(s.resolved_chroma_path)
    assert "data/" not in s.resolved_database_url.replace(str(s.data_dir), "") and s.chroma_host is None
    assert str(s.today) == "2026-11-20"


def test_the_quick_gated_subset_passes(eval_runtime: Runtime) -> None:
    """What `make test` runs of the evaluation: every 4th case of every dataset, every suite, every gate."""
    reports = run_suites(eval_runtime, quick=4)
    names = {r.name for r in reports}
    assert {"router", "retrieval", "record_qa", "leak", "conversation", "instructions"} <= names
    failed = {r.name: (r.failures, [x for x in r.cases if not x.get("ok")][:3]) for r in reports if not r.passed}
    assert not failed, failed
    leak = next(r for r in reports if r.name == "leak")
    assert leak.metrics["matrix.leaks"] == 0 and leak.metrics["matrix.turns"] >= 40 and leak.metrics["kb.searches"] > 0


def test_a_planted_permission_bug_fails_the_leak_gate(eval_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opportunities readable by everyone (as if the org's default were public_read): the leak suite must say so."""
    from sqlalchemy import true

    from copilot.crm import permissions

    real = permissions._filter

    def planted(principal: Any, object_type: str, mode: str) -> Any:
        if object_type == "opportunity" and mode == permissions.READ:
            return true()
        return real(principal, object_type, mode)

    monkeypatch.setattr(permissions, "_filter", planted)
    with c.sampling(4):
        report = run_suites(eval_runtime, ["leak"])[0]
    assert report.metrics["matrix.leaks"] > 0
    for surface in ("assist", "skill", "chat", "mcp"):  # every surface's check can fail
        assert report.metrics[f"matrix.{surface}.leaks"] > 0, surface
    assert any(f.startswith("matrix.leaks") for f in report.failures)
    assert any("opportunity" in " ".join(x.get("leaks", [])) for x in report.cases)


def _broken_prompts(root: Path, version: int = 3) -> Path:
    """A deployment's template dir whose record_qa (v3: the version the skill renders, replaced outright;
    or a new v4) answers offline without any of the record's facts."""
    import yaml

    from prompts.registry import PACKAGED_DIR

    for locale in ("zh", "en"):
        spec = yaml.safe_load((Path(PACKAGED_DIR) / "record_qa" / f"v3.{locale}.yaml").read_text(encoding="utf-8"))
        spec["version"] = version
        spec["offline"] = BROKEN_OFFLINE
        (root / "record_qa").mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(spec, allow_unicode=True)
        (root / "record_qa" / f"v{version}.{locale}.yaml").write_text(text, encoding="utf-8")
    return root


def test_a_broken_template_fails_its_gate_and_the_comparison_shows_it(eval_runtime: Runtime, tmp_path: Path) -> None:
    from eval import versions
    from eval.suites import turn_suite
    from prompts.registry import Registry

    def deployment(prompts: Path) -> Runtime:
        rt = Runtime(eval_runtime.settings.model_copy(update={"prompts_dir": prompts}))
        rt.__dict__.update(engine=eval_runtime.engine, kb=eval_runtime.kb, embedder=eval_runtime.embedder)
        return rt

    # The deployed version replaced by a broken one: the skill's gate fails, and against a baseline of
    # the packaged templates the change is named.
    broken = deployment(_broken_prompts(tmp_path / "v3", 3))
    with c.sampling(4):
        out = turn_suite("record_qa")(broken)
    failures = check_gates(out["metrics"], out["gates"])
    assert any(f.startswith("record_qa.facts") for f in failures), failures
    baseline = {"templates": versions.fingerprints(eval_runtime)}
    assert versions.changed_since(broken, baseline) == ["record_qa@3: content changed"]
    # A broken new version next to the packaged one: --compare reruns the template's cases with each.
    candidate = deployment(_broken_prompts(tmp_path / "v4", 4))
    assert Registry.load(tmp_path / "v4").versions("record_qa")[-1] == "4"
    with c.sampling(4):
        comparison = versions.compare_versions(candidate, "record_qa", "3", "4")
    delta = {d["metric"]: d for d in comparison["delta"]}
    assert delta["record_qa.facts"]["a"] >= 0.9 > delta["record_qa.facts"]["b"]
    assert comparison["flips"] and all(f["a"] and not f["b"] for f in comparison["flips"])
    assert comparison["cases"] < sum(len(d.cases) for d in c.datasets())  # only what record_qa reaches


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Any connection to a non-loopback address fails the test (ragas telemetry, tokenizer downloads...)."""
    attempts: list[Any] = []
    real = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("127.0.0.1", "::1", "localhost") and not str(host).startswith("/"):
            attempts.append(address)
            raise OSError(f"network access to {address} refused in tests")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


def test_judged_metrics_come_from_the_judge_only(eval_runtime: Runtime, loopback_only: list[Any]) -> None:
    from eval.judged import judged_metrics
    from tests.eval.fake_judge import respond
    from tests.fakes.openai_server import JudgeServer

    with c.sampling(8):
        reports = run_suites(eval_runtime, ["record_qa", "troubleshoot"])
    with JudgeServer(respond) as judge:
        out = judged_metrics(reports, judge.base_url, "judge-model", "k", runtime=eval_runtime, per_skill=3)
        paths = {r.path for r in judge.requests}
    assert not loopback_only
    assert paths == {"/v1/chat/completions", "/v1/embeddings"}
    for skill in ("record_qa", "troubleshoot"):
        row = out["per_skill"][skill]
        assert row["samples"] == 3
        for metric in ("faithfulness", "answer_relevancy", "context_precision"):
            assert row[metric] is not None and 0.0 <= row[metric] <= 1.0, (skill, metric, out["notes"])
    assert out["advisory"] is True


def test_thumbs_down_turns_become_draft_cases(eval_runtime: Runtime) -> None:
    from copilot.crm.principal import load_principal
    from copilot.store.feedback import rate
    from eval.feedback import draft_cases
    from skills.base import PageContext, SkillRequest

    with eval_runtime.sessions() as session:
        principal = load_principal(session, "rep_east_1")
        first = eval_runtime.assistant.turn(
            session,
            principal,
            SkillRequest(
                message="这个商机现在到哪个阶段了", context=PageContext(object_type="opportunity", object_id=1)
            ),
        )
        second = eval_runtime.assistant.turn(
            session, principal, SkillRequest(message="in English"), conversation_id=first.conversation_id
        )
        session.commit()
        trace = second.trace_id
        assert trace and first.trace_id
        rate(session, trace_id=trace, user_id=principal.user_id, rating="down", comment="没说金额，我要的是金额")
        rate(session, trace_id=first.trace_id, user_id=principal.user_id, rating="down", comment=None)
        rate(session, trace_id=first.trace_id, user_id=2, rating="up", comment="好")  # a thumbs-up is no draft
        session.commit()
        text, n = draft_cases(session)
    assert n >= 1
    path = Path(eval_runtime.settings.data_dir) / "drafts.yaml"
    path.write_text(text, encoding="utf-8")
    ds = c.load_dataset(path)
    case = next(x for x in ds.cases if x.review and x.review.trace_id == trace)
    assert case.review is not None
    assert case.review.comment == "没说金额，我要的是金额" and case.review.answer == second.answer
    assert case.vars.persona == "rep_east_1" and case.vars.message == "in English"
    assert case.vars.conversation[0].message == "这个商机现在到哪个阶段了"
    assert case.vars.conversation[0].page == "opportunity:1"
    assert case.review.retrieved == [x.id for x in second.citations]
    assert case.first(c.SkillIs).value == second.skill and ds.advisory
    opener = next(x for x in ds.cases if x.review and x.review.trace_id == first.trace_id)
    assert opener.review is not None
    assert "crm:opportunity:1" in opener.review.retrieved and opener.vars.page == "opportunity:1"
    assert all(x.review and x.review.rating == "down" for x in ds.cases)


def test_the_cli_fails_on_a_broken_deployment_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """End to end: `eval run` on its own fresh demo, with the deployment's (broken) templates: exit 1,
    the JSON names the failed gate, the HTML carries the charts inline."""
    from copilot.cli.main import app
    from copilot.core.settings import get_settings

    monkeypatch.setenv("CRM_COPILOT_PROMPTS_DIR", str(_broken_prompts(tmp_path / "prompts", 3)))
    monkeypatch.setenv("CRM_COPILOT_DATA_DIR", str(tmp_path / "configured"))  # must stay untouched
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)  # later tests must not see this deployment's settings
    out, html = tmp_path / "out.json", tmp_path / "out.html"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "run",
            "--suite",
            "router",
            "--suite",
            "record_qa",
            "--quick",
            "6",
            "--json",
            str(out),
            "--report",
            str(html),
        ],
    )
    assert result.exit_code == 1, result.output
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert any(f.startswith("record_qa.facts") for f in payload["suites"]["record_qa"]["failures"])
    assert payload["suites"]["router"]["passed"] is True  # the router does not render templates
    page = html.read_text(encoding="utf-8")
    assert page.count("<svg") >= 2 and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not (tmp_path / "configured").exists()
