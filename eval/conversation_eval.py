"""The conversation suite: a short reply to an earlier answer (a refinement, a pick among the options
offered), judged on the last turn (eval/datasets/conversation.yaml: skill, record, method, inputs kept).

    python -m eval.conversation_eval [--json out.json]     # on a fresh demo (eval/fresh.py)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.suites import turn_suite

if TYPE_CHECKING:
    from copilot.service.runtime import Runtime


def run_suite(runtime: Runtime) -> dict[str, Any]:
    out: dict[str, Any] = turn_suite("conversation")(runtime)
    out["metrics"]["cases"] = sum(v for k, v in out["metrics"].items() if k.endswith(".cases"))
    return out


def main(argv: list[str] | None = None) -> int:
    from eval.fresh import fresh_demo
    from eval.runner import check_gates

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    with fresh_demo() as runtime:
        out = run_suite(runtime)
    text = json.dumps(out, ensure_ascii=False, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    return 1 if check_gates(out["metrics"], out["gates"]) else 0


if __name__ == "__main__":
    sys.exit(main())
