"""`crm-copilot prompts list / show / render` through the real CLI entry point."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from copilot.cli.main import app
from tests.prompts.samples import SAMPLES


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("CRM_COPILOT_DATA_DIR", str(tmp_path))  # never touch the developer's ./data
    monkeypatch.delenv("CRM_COPILOT_PROMPTS_DIR", raising=False)
    from copilot.core.settings import get_settings

    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_list_json(cli: CliRunner) -> None:
    out = cli.invoke(app, ["prompts", "list", "--json"])
    assert out.exit_code == 0, out.output
    ids = {e["id"]: e for e in json.loads(out.stdout)}
    assert set(SAMPLES) <= set(ids)
    assert ids["ticket_lookup"]["variables"]["filters"] == "dict"


def test_show_with_version_and_locale(cli: CliRunner) -> None:
    out = cli.invoke(app, ["prompts", "show", "troubleshoot@1", "--locale", "en", "--json"])
    assert out.exit_code == 0, out.output
    info = json.loads(out.stdout)
    assert (info["id"], info["version"], info["locale"]) == ("troubleshoot", "1", "en")
    assert "Symptom: {{ symptom }}" in info["parts"]["user"]


def test_render_from_vars_file_and_overrides(cli: CliRunner, tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(SAMPLES["ticket_lookup"], ensure_ascii=False), encoding="utf-8")
    out = cli.invoke(
        app, ["prompts", "render", "ticket_lookup@1", "--vars", str(vars_file), "--var", "total=2", "--json"]
    )
    assert out.exit_code == 0, out.output
    rendered = json.loads(out.stdout)
    assert rendered["ref"] == "ticket_lookup@1" and len(rendered["hash"]) == 64
    assert rendered["offline"].startswith("按条件「priority=high，region=east，status=open」共找到 2 条工单")


def test_render_reports_every_missing_variable(cli: CliRunner) -> None:
    out = cli.invoke(app, ["prompts", "render", "reply_suggestion@1", "--var", "customer_language=zh"])
    assert out.exit_code == 2
    assert "missing variables: conversation, ticket_facts" in out.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--object", "opportunity:12"], "--object needs --as USERNAME"),
        (["--object", "opportunity", "--as", "rep_east_1"], "--object expects TYPE:ID"),
        (["--object", "opportunity:1", "--as", "x", "--var", "a=1"], "either --object/--as or --vars/--var"),
    ],
)
def test_render_for_record_argument_errors(cli: CliRunner, args: list[str], message: str) -> None:
    out = cli.invoke(app, ["prompts", "render", "record_qa", *args])
    assert out.exit_code == 2 and message in out.output


def test_unknown_template(cli: CliRunner) -> None:
    out = cli.invoke(app, ["prompts", "show", "nope@1"])
    assert out.exit_code == 2 and "unknown template 'nope'" in out.output
