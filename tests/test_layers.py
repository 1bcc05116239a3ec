"""The layers contract (.importlinter, run by `make lint`) and the cycle check fail on a planted upward
import and a planted cycle, and pass on the tree as it is.

Each plant goes into a temporary copy of our packages (Python files only), so the real tree is never
touched; import-linter and grimp read that copy (it is first on the path of the subprocess).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.import_graph import PACKAGES

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_tree(dest: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            dest / package,
            ignore=lambda d, names: [n for n in names if not (n.endswith(".py") or (Path(d) / n).is_dir())]
            + ["__pycache__"],
        )
    shutil.copy(ROOT / ".importlinter", dest / ".importlinter")
    (dest / "tests").mkdir()
    for name in ("__init__.py", "import_graph.py"):
        shutil.copy(ROOT / "tests" / name, dest / "tests" / name)
    return dest


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _plant(path: Path, line: str) -> None:
    # At the end of the module, after ``from __future__``: a plain module-level import.
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_tree(tmp_path_factory.mktemp("layers"))


def test_the_tree_keeps_its_layers_and_has_no_cycles(clean_copy: Path) -> None:
    lint = _run(clean_copy, str(LINT_IMPORTS), "--config", ".importlinter", "--no-cache")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "BROKEN" not in lint.stdout and "KEPT" in lint.stdout
    cycles = _run(clean_copy, sys.executable, "-m", "tests.import_graph")
    assert cycles.returncode == 0, cycles.stdout + cycles.stderr


def test_an_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    # The ground floor reaching for the roof: settings importing the HTTP app.
    _plant(tree / "copilot" / "core" / "clock.py", "import copilot.api.app  # noqa")
    lint = _run(tree, str(LINT_IMPORTS), "--config", ".importlinter", "--no-cache")
    assert lint.returncode != 0
    assert "BROKEN" in lint.stdout
    assert "copilot.core is not allowed to import copilot.api" in lint.stdout.replace("\n", " ")


def test_a_skill_importing_the_composition_root_is_refused(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    _plant(tree / "skills" / "compose.py", "from copilot.service.runtime import Runtime  # noqa")
    lint = _run(tree, str(LINT_IMPORTS), "--config", ".importlinter", "--no-cache")
    assert lint.returncode != 0
    assert "skills is not allowed to import copilot.service" in lint.stdout.replace("\n", " ")


def test_a_cycle_inside_one_floor_is_found(tmp_path: Path) -> None:
    """Two modules of the same layer importing each other: no layer rule sees it, the cycle checks do
    (even when one side is a lazy import inside a function)."""
    tree = _copy_tree(tmp_path)
    _plant(tree / "copilot" / "core" / "locale.py", "def _later() -> None:\n    import copilot.core.clock  # noqa")
    _plant(tree / "copilot" / "core" / "clock.py", "import copilot.core.locale  # noqa")
    cycles = _run(tree, sys.executable, "-m", "tests.import_graph")
    assert cycles.returncode == 1, cycles.stdout + cycles.stderr
    assert "copilot.core.clock, copilot.core.locale" in cycles.stdout
    lint = _run(tree, str(LINT_IMPORTS), "--config", ".importlinter", "--no-cache")
    assert lint.returncode != 0 and "No cycles between sibling packages" in lint.stdout
