"""The one case schema: every dataset loads; a typo is a load error naming the file, the line and the
case; old dialects are refused with the converter's command; the converter turns each old dialect into
the schema, and what it writes loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eval import cases as c
from eval.migrate_cases import main as migrate_main
from eval.migrate_cases import migrate


def test_every_dataset_loads_and_names_a_suite() -> None:
    sets = c.datasets()
    assert len(sets) >= 17
    suites = {d.suite for d in sets}
    assert {"router", "retrieval", "leak", "conversation", "instructions", "record_qa", "next_best_action"} <= suites
    assert all(d.cases for d in sets)


def test_both_languages_throughout() -> None:
    from eval.judge import language_of

    for suite in (
        "router",
        "retrieval",
        "record_qa",
        "troubleshoot",
        "reply_suggestion",
        "marketing_copy",
        "next_best_action",
        "ticket_lookup",
        "record_lookup",
        "conversation",
        "instructions",
        "leak",
    ):
        messages = [case.vars.message for d in c.datasets(suite) for case in d.cases if case.vars.message]
        langs = {language_of(m) for m in messages}
        assert langs == {"zh", "en"}, (suite, langs)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "record_qa_extra.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """schema: crm-copilot-eval/1
suite: record_qa
skill: record_qa
cases:
- id: a
  vars: {persona: rep_east_1, page: "opportunity:1", message: 阶段}
  assert:
  - {type: facts, must_include: [商务谈判]}
- id: b
  vars: {persona: rep_east_1, message: stage}
  assert:
  - {type: facts, must_incude: [Negotiation]}
"""


def test_a_misspelt_key_is_an_error_with_file_line_and_case(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    with pytest.raises(c.CaseError) as err:
        c.load_dataset(path)
    msg = str(err.value)
    assert f"{path}:12:" in msg  # the misspelt assertion's own line and "'b'" in msg and "must_incude" in msg


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ("{type: facts, must_include: [x]}", None),
        ("{type: fact, must_include: [x]}", "does not match any of the expected tags"),
        ("{type: citations}", "ids"),
        ("{type: language, value: fr}", "value"),
        ("{type: count, value: 0}", "value"),
        ("{type: facts, must_include: [x], threshold: 1.5}", "threshold"),
    ],
)
def test_assertions_are_typed_and_closed(tmp_path: Path, bad: str, needle: str | None) -> None:
    text = GOOD.replace("{type: facts, must_incude: [Negotiation]}", bad)
    if needle is None:
        assert len(c.load_dataset(_write(tmp_path, text)).cases) == 2
        return
    with pytest.raises(c.CaseError, match=needle):
        c.load_dataset(_write(tmp_path, text))


def test_vars_are_closed_too(tmp_path: Path) -> None:
    with pytest.raises(c.CaseError, match="persnoa"):
        c.load_dataset(_write(tmp_path, GOOD.replace("persona: rep_east_1, page", "persnoa: rep_east_1, page")))
    with pytest.raises(c.CaseError, match="page"):
        c.load_dataset(_write(tmp_path, GOOD.replace('page: "opportunity:1"', "page: opportunity 1")))


def test_duplicate_ids_and_unknown_header_keys_fail(tmp_path: Path) -> None:
    with pytest.raises(c.CaseError, match="used twice"):
        c.load_dataset(_write(tmp_path, GOOD.replace("- id: b", "- id: a").replace("must_incude", "must_include")))
    with pytest.raises(c.CaseError, match="gate"):
        fixed = GOOD.replace("must_incude", "must_include")
        c.load_dataset(_write(tmp_path, fixed.replace("skill: record_qa\n", "skill: record_qa\ngate: {}\n")))


def test_an_old_dialect_file_is_refused_with_the_converter_command(tmp_path: Path) -> None:
    path = tmp_path / "troubleshoot_paraphrase.yaml"
    path.write_text("cases:\n- {id: x, as: service_agent_1, message: 怎么修, expect: [A-17]}\n", encoding="utf-8")
    with pytest.raises(c.CaseError, match=r"python -m eval\.migrate_cases"):
        c.load_dataset(path)


OLD = {
    "troubleshoot_paraphrase.yaml": (
        "# a header comment\ncases:\n- id: ts-p-1\n  as: service_agent_1\n  context: ticket:1\n"
        "  message: 机器人老是撞停\n"
        "  expect: [A-17]\n  cite: [crm:ticket:1]\n  forbid: [保证]\n  fls: ['591,600']\n"
        "- {id: ts-p-2, as: rep_east_1, message: 怎么修, error: forbidden}\n",
        "troubleshoot",
        {"facts", "citations", "no_leak"},
    ),
    "retrieval_crosslingual.yaml": (
        "questions:\n- {id: x1, lang: en, question: laser water temperature alarm,"
        " relevant: [lc-e101-laser-water-temp-high],"
        " asker: service_agent_1}\n",
        "retrieval",
        {"retrieved_ids"},
    ),
    "router_paraphrase.yaml": (
        "items:\n- {text: 这单下一步, object_type: opportunity, role: sales_rep, expected: next_best_action}\n",
        "router",
        {"skill"},
    ),
    "next_best_action_paraphrase.yaml": (
        "cases:\n- {id: n1, as: rep_east_1, context: 'opportunity:1', message: 先干嘛, locale: zh,"
        " expected_kind: stale_deal,"
        " cite: ['crm:opportunity:1'], why: silent}\n",
        "next_best_action",
        {"top_action", "no_leak"},
    ),
    "ticket_lookup_paraphrase.yaml": (
        "cases:\n- {id: t1, as: service_agent_1, message: 我的工单,"
        " sql: 'SELECT id FROM tickets WHERE assignee_id = 7'}\n",
        "ticket_lookup",
        {"record_set", "no_leak"},
    ),
    "marketing_copy_paraphrase.yaml": (
        "skill: marketing_copy\ncases:\n- id: m1\n  as: marketer_1\n  turns: [写一条朋友圈推广 RB-20, in English]\n"
        "  checks: {language: en, channels: [moments], count: 1, max_chars: 70, expect: [RB-20], note: [x],"
        " forbid_copy: [y]}\n",
        "instructions",
        {"language", "channel", "count", "length", "facts", "no_banned_term", "no_leak"},
    ),
    "conversation_paraphrase.yaml": (
        "cases:\n- id: c1\n  turns:\n  - {as: service_agent_1, message: 帮我回复客户, context: 'ticket:8'}\n"
        "  - {message: 短一点}\n"
        "  expect: {skill: reply_suggestion, record: 'ticket:8', method: followup}\n",
        "conversation",
        {"skill", "record", "method", "no_leak"},
    ),
}


@pytest.mark.parametrize("name", sorted(OLD))
def test_the_converter_turns_each_old_dialect_into_the_schema(tmp_path: Path, name: str) -> None:
    text, suite, types = OLD[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert migrate_main([str(path)]) == 0
    ds = c.load_dataset(path)
    assert ds.suite == suite
    assert {a.type for case in ds.cases for a in case.assertions} >= types
    assert migrate(path) is None  # converted once: left alone


def test_converted_skill_cases_keep_every_check(tmp_path: Path) -> None:
    path = tmp_path / "troubleshoot_paraphrase.yaml"
    path.write_text(OLD["troubleshoot_paraphrase.yaml"][0], encoding="utf-8")
    migrate_main([str(path)])
    assert path.read_text(encoding="utf-8").startswith("# a header comment\n")
    first, refused = c.load_dataset(path).cases
    facts = first.first(c.Facts)
    assert facts.must_include == ["A-17"] and facts.must_not_include == ["保证"]
    assert first.first(c.Citations).ids == ["crm:ticket:1"] and first.first(c.NoLeak).values == ["591,600"]
    assert first.vars.persona == "service_agent_1" and first.vars.page == "ticket:1"
    assert refused.first(c.Refused).code == "forbidden"


def test_the_converter_flags_what_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "conversation_x.yaml"
    path.write_text(
        "cases:\n- id: c1\n  turns:\n  - {as: u, message: a, context: 'ticket:8'}\n"
        "  - {message: the second one, shorter}\n"
        "  expect: {skill: reply_suggestion}\n",
        encoding="utf-8",
    )
    assert migrate_main(["--check", str(path)]) == 1  # an unquoted comma made a key: not silently dropped
    unknown = tmp_path / "mystery.yaml"
    unknown.write_text("cases:\n- {id: x, as: u, message: m, expect: [a]}\n", encoding="utf-8")
    assert migrate_main([str(unknown)]) == 1
    assert migrate_main(["--skill", "record_qa", "--advisory", str(unknown)]) == 0
    ds = c.load_dataset(unknown)
    assert ds.advisory and not ds.gates and ds.skill == "record_qa"


def test_migrated_files_are_what_the_suites_read() -> None:
    """Nothing in eval/datasets is left in an old dialect."""
    for path in sorted(c.DATASETS.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert raw["schema"] == c.SCHEMA, path
