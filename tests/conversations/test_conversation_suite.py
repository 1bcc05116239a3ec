"""The conversation evaluation suite (eval/conversation_eval.py) runs its cases through the real turn and
passes its gates on the demo organisation."""

from __future__ import annotations

from copilot.service.runtime import Runtime
from eval import conversation_eval
from eval.runner import check_gates


def test_the_conversation_suite_passes_its_gates(conv_runtime: Runtime) -> None:
    out = conversation_eval.run_suite(conv_runtime)
    assert out["metrics"]["cases"] >= 20
    assert check_gates(out["metrics"], out["gates"]) == [], out["cases"]
