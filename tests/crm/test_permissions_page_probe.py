"""The walk that probes the related team per index entry (``permissions.page_select`` for a principal
with many departments: a region head) equals the oracle too.

The random organisations of the page property test have a handful of departments, fewer than
``PAGE_PROBE_DEPARTMENTS``, so there the probe is never taken; here the threshold is lowered to 0
so that every walk with any department probes. Non-vacuity: walks were taken, with non-empty
pages, and probing statements were built.
"""

from __future__ import annotations

from typing import Any

import pytest

from copilot.crm import permissions
from tests.crm.test_permissions_page import EXAMPLES, run_property


def test_probing_walk_pages_equal_the_oracle(backend_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(permissions, "PAGE_PROBE_DEPARTMENTS", 0)
    # Same shapes as the other test: its statements are kept per shape, and the probe is part of it.
    permissions._kept.cache_clear()
    built = permissions._page_statements
    probes: list[bool] = []

    def counting(*args: Any, **kwargs: Any) -> Any:  # calls through: only counts the probing walks
        probes.append(bool(args[8]))
        return built(*args, **kwargs)

    monkeypatch.setattr(permissions, "_page_statements", counting)
    backend = backend_url.split(":", 1)[0].split("+", 1)[0]
    backend = "mariadb" if backend == "mysql" else backend
    # Twice the other test's examples: a non-empty walk is the rarer plan in these small worlds.
    plans = run_property(backend_url, 2 * EXAMPLES[backend])
    print(f"plans taken: {dict(plans)}, probing statements built: {sum(probes)} of {len(probes)}")
    if backend == "sqlite":
        assert plans["walk"] >= 2 and sum(probes) >= 5, f"plans taken: {dict(plans)}, probes {sum(probes)}"
