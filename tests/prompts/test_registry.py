"""The template registry: every packaged template renders in both locales; bad templates fail loudly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from prompts import (
    PACKAGED_DIR,
    Registry,
    TemplateLoadError,
    TemplateNotFound,
    TemplateRenderError,
    TemplateVariableError,
)
from tests.prompts.samples import SAMPLES

REGISTRY = Registry.load()
SKILL_TEMPLATES = {
    "record_qa",
    "next_best_action",
    "marketing_copy",
    "troubleshoot",
    "reply_suggestion",
    "ticket_lookup",
}

GOOD = """\
id: {id}
version: {version}
locale: {locale}
description: test template
variables:
  question: {{type: str}}
system: 你是助手。
user: "问题：{{{{ question }}}}"
offline: "离线：{{{{ question }}}}"
"""


def write(root: Path, text: str, tid: str = "demo", name: str = "v1.zh.yaml") -> Path:
    (root / tid).mkdir(parents=True, exist_ok=True)
    path = root / tid / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_packaged_template_has_samples_and_both_locales() -> None:
    assert set(REGISTRY.ids()) >= SKILL_TEMPLATES | {"router_clarify"}
    assert set(SAMPLES) == set(REGISTRY.ids()), "add sample variables for every new template id"
    for entry in REGISTRY.list():
        assert entry["locales"] == ["en", "zh"], entry["id"]


@pytest.mark.parametrize("locale", ["zh", "en"])
@pytest.mark.parametrize("template_id", sorted(SAMPLES))
def test_v1_renders_with_realistic_variables(template_id: str, locale: str) -> None:
    template = REGISTRY.get(template_id, version=1, locale=locale)
    p = template.render(SAMPLES[template_id])

    assert (p.id, p.version, p.ref, p.locale) == (template_id, "1", f"{template_id}@1", locale)
    assert p.hash == hashlib.sha256(Path(template.path).read_bytes()).hexdigest()
    assert [m["role"] for m in p.messages] == ["system", "user"]
    assert all(m["content"].strip() for m in p.messages) and p.offline_text.strip()
    assert "<data" in p.messages[0]["content"]  # every system part explains the data fence
    assert "{{" not in p.messages[1]["content"] and "{%" not in p.offline_text


def test_offline_text_is_grounded_in_the_facts() -> None:
    zh = REGISTRY.render("record_qa", SAMPLES["record_qa"], version=1)
    assert "[opportunity:12]" in zh.offline_text and "2026-12-15" in zh.offline_text
    copy = REGISTRY.render("marketing_copy", SAMPLES["marketing_copy"], version=1)
    assert "最快" not in copy.offline_text  # a fact containing a banned term is left out offline
    assert "版本 2" in copy.offline_text


def test_missing_variables_are_named_together() -> None:
    with pytest.raises(TemplateVariableError) as err:
        REGISTRY.get("marketing_copy", version=1).render({"tone": "务实"})
    assert err.value.missing == ["channel", "audience", "product_facts"]
    assert "channel, audience, product_facts" in str(err.value)


def test_wrong_types_are_reported() -> None:
    bad = {**SAMPLES["marketing_copy"], "variants": "two", "banned_terms": "最快"}
    with pytest.raises(TemplateVariableError, match=r"banned_terms should be list, got str; variants should be int"):
        REGISTRY.render("marketing_copy", bad, version=1)


def test_latest_version_and_locale_fallback(tmp_path: Path) -> None:
    # A deployment's version above every packaged one (record_qa ships up to v3).
    write(tmp_path, GOOD.format(id="record_qa", version="9.1.0", locale="en"), "record_qa", "v9.1.0.en.yaml")
    reg = Registry.load(tmp_path)

    latest = reg.get("record_qa", locale="zh")  # 9.1.0 exists only in English: falls back
    assert (latest.version, latest.locale) == ("9.1.0", "en")
    assert reg.get("record_qa@1", locale="zh").version == "1"
    assert reg.get("record_qa", version="v1", locale="en").locale == "en"
    assert reg.versions("record_qa")[-1] == "9.1.0"


def test_versions_sort_numerically(tmp_path: Path) -> None:
    for v in ("1", "1.2.0", "1.10.0"):
        write(tmp_path, GOOD.format(id="demo", version=v, locale="zh"), name=f"v{v}.zh.yaml")
    assert Registry([tmp_path]).versions("demo") == ["1", "1.2.0", "1.10.0"]


def test_deployment_folder_overrides_and_adds(tmp_path: Path) -> None:
    override = GOOD.format(id="record_qa", version=1, locale="zh").replace("你是助手。", "你是本公司的定制助手。")
    write(tmp_path, override, "record_qa", "v1.zh.yaml")
    write(tmp_path, GOOD.format(id="custom_brief", version=1, locale="zh"), "custom_brief")
    reg = Registry.load(tmp_path)

    p = reg.render("record_qa", {"question": "交期？"}, version=1)
    assert p.messages[0]["content"] == "你是本公司的定制助手。" and p.offline_text == "离线：交期？"
    assert p.hash != REGISTRY.get("record_qa", version=1).hash
    assert reg.get("record_qa", version=1, locale="en").hash == REGISTRY.get("record_qa", version=1, locale="en").hash
    assert "custom_brief" in reg.ids()


def test_unknown_template_and_version() -> None:
    with pytest.raises(TemplateNotFound, match="unknown template 'nope'"):
        REGISTRY.get("nope")
    with pytest.raises(TemplateNotFound, match="record_qa has no version 99"):
        REGISTRY.get("record_qa", version=99)


# --- load-time errors name the problem and the file --------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda t: t.replace("description:", "descripton:"), r"unknown key 'descripton'.*|missing key 'description'"),
        (lambda t: t.replace("  question: {type: str}", "  question: {type: str, requird: true}"), "requird"),
        (lambda t: t.replace("{type: str}", "{type: string}"), "variables.question.type"),
        (lambda t: t + "temperature: 0.2\n", "unknown key 'temperature'"),
        (lambda t: t.replace("问题：{{ question }}", "问题：{{ question }} {{ customer }}"), "undeclared.*customer"),
        (lambda t: t.replace('"离线：{{ question }}"', '"{% for x in rows %}{{ x }}{% endfor %}"'), "'offline'.*rows"),
        (lambda t: t.replace("问题：{{ question }}", "{{ ''.__class__.__mro__ }}"), "unsafe.*__class__"),
        (lambda t: t.replace("问题：{{ question }}", "{{ question['__class__'] }}"), "unsafe.*__class__"),
        (lambda t: t.replace("问题：{{ question }}", "{{ question "), "syntax error in 'user'"),
        (lambda t: t.replace("version: 1", "version: one"), "version must be an integer or semver"),
        (lambda t: t.replace("locale: zh", "locale: en"), "path says demo@1 \\(zh\\)"),
    ],
    ids=[
        "typo-top-level",
        "typo-in-variable",
        "bad-type",
        "power-key",
        "undeclared",
        "undeclared-offline",
        "dunder-attr",
        "dunder-item",
        "syntax",
        "bad-version",
        "path-mismatch",
    ],
)
def test_bad_template_fails_at_load_naming_it(tmp_path: Path, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, mutate(GOOD.format(id="demo", version=1, locale="zh")))
    with pytest.raises(TemplateLoadError, match=expected) as err:
        Registry([tmp_path])
    assert str(path) in str(err.value)


def test_dynamic_sandbox_escape_is_refused_at_render(tmp_path: Path) -> None:
    # attr() hides the name from the load-time check; the sandbox still refuses it while rendering.
    text = GOOD.format(id="demo", version=1, locale="zh").replace(
        "问题：{{ question }}", "{{ question | attr('__cla' ~ 'ss__') }}"
    )
    write(tmp_path, text)
    with pytest.raises(TemplateRenderError, match=r"demo@1.*sandbox refused.*__class__"):
        Registry([tmp_path]).render("demo", {"question": "x"})


def test_missing_prompts_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateLoadError, match="does not exist"):
        Registry.load(tmp_path / "nope")


def test_packaged_dir_is_inside_the_package() -> None:
    assert PACKAGED_DIR.parent.name == "prompts" and (PACKAGED_DIR / "record_qa" / "v1.zh.yaml").is_file()
