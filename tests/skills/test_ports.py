"""SkillContext is ports only: a skill gets typed protocols bound to the asker, never a session, the
runtime or a client, and the skill modules hold no ``getattr(x, name, None)`` duck typing."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

from skills.base import SkillContext, load_specs
from skills.handlers import HANDLERS, handler_for

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"records", "knowledge", "composer", "templates", "clock", "settings"}


def test_the_context_carries_ports_and_turn_state_only() -> None:
    hints = typing.get_type_hints(SkillContext)
    names = {f.name for f in dataclasses.fields(SkillContext)}
    assert names >= PORTS
    assert not {"session", "runtime", "engine", "kb", "llm", "prompts"} & names
    for name in names:
        text = str(hints[name])
        assert "Session" not in text and "Runtime" not in text and "Gateway" not in text, (name, text)


def test_every_declared_skill_has_its_registered_handler() -> None:
    specs = load_specs()
    assert set(HANDLERS) == set(specs)
    for spec in specs.values():
        assert handler_for(spec) is HANDLERS[spec.name]


def test_a_handler_naming_another_function_is_refused() -> None:
    import pytest

    from copilot.core.errors import ConfigError

    spec = load_specs()["record_qa"].model_copy(update={"handler": "skills.record_qa:something_else"})
    with pytest.raises(ConfigError, match="something_else"):
        handler_for(spec)


# Probing the context or a port for what it might have: the service locator's habit this replaced.
PORT_NAMES = r"(ctx|runtime|llm|kb|gateway|composer|registry|templates|knowledge|embedder)"
DUCK = re.compile(rf"(getattr|hasattr)\(\s*(self\.)?{PORT_NAMES}\b")


def test_no_duck_typed_ports_in_the_skills() -> None:
    offenders = []
    for path in sorted((ROOT / "skills").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if DUCK.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_duck_typing_check_catches_a_planted_one() -> None:
    assert DUCK.search('llm = getattr(ctx.runtime, "llm", None)')
    assert DUCK.search('if hasattr(ctx, "session"):')
    assert DUCK.search('batch = getattr(self.embedder, "embed_queries", None)')
    assert not DUCK.search('account_id = getattr(bundle.record, "account_id", None)')  # a row's optional column
