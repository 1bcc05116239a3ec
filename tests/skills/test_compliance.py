"""The ad-law wording check: rules come from the brand guides in the KB corpus, not from code."""

from __future__ import annotations

from pathlib import Path

from skills import compliance


def test_rules_are_the_guide_tables_in_both_languages() -> None:
    rules = {r.term: r for r in compliance.load_rules()}
    assert rules["最佳"].replacement == "优良"  # first suggestion of the guide's row
    assert rules["最先进"].replacement == "采用新一代技术"
    assert rules["best"].replacement == "reliable"
    assert rules["cure"].source == "brand-ad-wording-guide-en"  # "cure (IVD products)" → the term "cure"
    assert rules["第一"].replacement == ""  # the guide says: delete, or cite a verifiable source


def test_rewrites_every_banned_term_and_flags_what_needs_review() -> None:
    report = compliance.check("LC-3015：行业第一、最先进的切割机，全网最低价，100%零故障，世界级精度。")
    assert compliance.find_banned(report.text) == []
    assert "采用新一代技术" in report.text and "限时优惠价" in report.text and "国际水准" in report.text
    terms = {c["term"] for c in report.rewritten}
    assert {"第一", "最先进", "全网最低", "100%", "零故障", "世界级"} <= terms
    assert {"第一", "100%"} <= {f["term"] for f in report.flagged}  # removed claims go to human review


def test_english_copy_and_set_phrases() -> None:
    report = compliance.check("The best, world-class No.1 cutter - guaranteed.\nBest regards")
    assert compliance.find_banned(report.text) == []
    assert "Kind regards" in report.text and "reliable" in report.text


def test_editing_the_guide_changes_the_check(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text(
        "---\ntitle: t\nvisibility: internal\n---\n## 禁用绝对化用语\n\n"
        "| 禁用词 | 替换建议 |\n|---|---|\n| 天花板 | 高水准 |\n",
        encoding="utf-8",
    )
    rules = compliance.load_rules(tmp_path)
    assert [(r.term, r.replacement) for r in rules] == [("天花板", "高水准")]
