"""Skill-router evaluation: fit thresholds on the training split, report held-out and whole-set scores.

    python -m eval.router_eval            # evaluate with the stored thresholds
    python -m eval.router_eval --fit      # re-fit on the training split, store the thresholds, evaluate

Prints a summary and writes JSON (accuracy, per-label precision/recall/F1, confusion matrix, the
thresholds used, p50 routing latency) for the held-out split and the whole set. Offline: semantic
exemplars + page context + lexical cues; the LLM fallback is never called here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

for _k, _v in {"HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}.items():
    os.environ.setdefault(_k, _v)

from skills.base import load_specs  # noqa: E402
from skills.router import THRESHOLDS_FILE, Labelled, Router, RouterReport, split_labelled  # noqa: E402

if TYPE_CHECKING:
    from copilot.service.runtime import Runtime

DATASET = Path(__file__).parent / "datasets" / "router.yaml"
# Requests written from the user's side, held apart: never fitted on, never copied into exemplars or cues.
USERS_DATASET = Path(__file__).parent / "datasets" / "router_users.yaml"


def load_labelled(path: Path) -> list[Labelled]:
    """A router dataset of the case schema as the router's labelled items: the message, the page's type,
    the asker's one role (absent: admin) and the ``skill`` assertion's label."""
    from eval.cases import SkillIs, load_dataset, sampling

    items = []
    with sampling(1):  # the router scores 200-odd utterances in seconds: always all of them
        loaded = load_dataset(path)
    for case in loaded.cases:
        label = case.first(SkillIs)
        if label is None:
            raise ValueError(f"{path}:{case.line}: router case {case.id!r} needs a skill assertion")
        page = case.vars.page.split(":")[0] if case.vars.page else None
        items.append(Labelled(text=case.vars.message, expected=label.value, object_type=page, role=case.vars.role))
    return items


def run(dataset: Path, fit: bool, json_path: Path | None) -> dict[str, object]:
    items = load_labelled(dataset)
    train, heldout = split_labelled(items)
    router = Router.from_specs(load_specs())
    if fit:
        params = router.fit(train)
    params = router.params
    heldout_report = router.evaluate(heldout)
    whole_report = router.evaluate(items)
    if fit:
        params.meta.update(
            heldout_size=len(heldout),
            heldout_accuracy=heldout_report.accuracy,
            whole_accuracy=whole_report.accuracy,
            split="stratified by label; every 3rd item per label in sha1(text) order is held out",
        )
        params.save(THRESHOLDS_FILE)
    result: dict[str, object] = {
        "dataset": str(dataset),
        "params": params.to_dict(),
        "heldout": heldout_report.model_dump(),
        "whole": whole_report.model_dump(),
    }
    _print(heldout_report, "held-out")
    _print(whole_report, "whole set")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"wrote {json_path}")
    return result


def _print(report: RouterReport, name: str) -> None:
    print(f"\n== {name}: accuracy {report.accuracy:.4f} (n={report.n}), p50 latency {report.latency_ms_p50} ms")
    print(f"{'label':<18}{'P':>7}{'R':>7}{'F1':>7}{'n':>5}")
    for label, m in report.per_label.items():
        print(f"{label:<18}{m['precision']:>7.2f}{m['recall']:>7.2f}{m['f1']:>7.2f}{int(m['support']):>5}")
    labels = list(report.confusion)
    short = [lab[:6] for lab in labels]
    print("confusion (rows expected, columns predicted):")
    print(" " * 18 + "".join(f"{s:>8}" for s in short))
    for label in labels:
        print(f"{label:<18}" + "".join(f"{report.confusion[label][p]:>8}" for p in labels))
    for err in report.errors:
        print(f"  miss: {err['text']!r} expected {err['expected']}, got {err['predicted']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--fit", action="store_true", help="re-fit thresholds on the training split and store them")
    parser.add_argument("--json", type=Path, default=Path("data/eval/router.json"))
    args = parser.parse_args(argv)
    run(args.dataset, args.fit, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def run_suite(runtime: Runtime) -> dict[str, object]:
    """Harness entry (``crm-copilot eval run --suite router``): the turn's own router (the service's
    skills, embedder and settings: what Assistant.turn routes with), stored thresholds, no LLM call.
    Every router dataset is scored whole (``<set>.accuracy``, per-label P/R); ``router.yaml``, whose
    training split the thresholds were fitted on, is scored on its held-out split too. The confusion
    matrix and per-case latency go to the report's charts."""
    from eval.cases import datasets

    router: Router = runtime.assistant.router
    metrics: dict[str, float] = {}
    gates: dict[str, dict[str, float]] = {}
    cases: list[dict[str, object]] = []
    charts: dict[str, object] = {}
    for ds in datasets("router"):
        items = load_labelled(ds.path)
        whole = router.evaluate(items, latency_samples=0)
        metrics[f"{ds.name}.cases"] = float(whole.n)
        metrics[f"{ds.name}.accuracy"] = whole.accuracy
        if ds.name == "router":
            _, heldout = split_labelled(items)
            metrics[f"{ds.name}.heldout_accuracy"] = router.evaluate(heldout, latency_samples=0).accuracy
        for label, scores in whole.per_label.items():
            metrics[f"{ds.name}.{label}_precision"] = scores["precision"]
            metrics[f"{ds.name}.{label}_recall"] = scores["recall"]
        charts[f"confusion:{ds.name}"] = whole.confusion
        cases += [{**e, "set": ds.name, "ok": False} for e in whole.errors]
        if not ds.advisory:
            gates |= {f"{ds.name}.{k}": b.model_dump(exclude_none=True) for k, b in ds.gates.items()}
    return {"metrics": metrics, "gates": gates, "cases": cases, "charts": charts}
