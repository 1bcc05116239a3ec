"""A fresh demo deployment for one evaluation run: its own database and index in a temporary directory.

The harness never reads or writes the configured database or knowledge base (``CRM_COPILOT_DATABASE_URL``,
``CHROMA_PATH``/``CHROMA_HOST``, ``DATA_DIR``): every run generates the demo org (same seed, same ids) and
ingests the demo corpus into a new local index, on the demo's pinned day. What it keeps of the caller's
settings is how the copilot answers — the model provider and endpoint, the templates directory, the
embedding model — so a run measures the deployment's prompts and model, on the demo's data.

Embedding vectors are cached across runs (content-addressed by model and text hash, under
``$XDG_CACHE_HOME/crm-copilot``): that saves minutes and cannot change a result.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from copilot.core.settings import Settings
from copilot.service.runtime import Runtime

KEPT = (
    "llm_provider",
    "openai_base_url",
    "openai_api_key",
    "llm_model",
    "llm_timeout_s",
    "llm_deadline_s",
    "turn_deadline_s",
    "llm_max_retries",
    "embedding_model",
    "prompts_dir",
    "mask_contact_names",
)


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crm-copilot"


def fresh_settings(tmp: Path, base: Settings | None = None, **overrides: Any) -> Settings:
    from copilot.demo.generator import DEMO_TODAY

    kept = {k: getattr(base, k) for k in KEPT} if base is not None else {}
    return Settings(
        **kept
        | {
            "data_dir": tmp,
            "database_url": f"sqlite:///{tmp / 'crm.sqlite3'}",
            "chroma_path": tmp / "chroma",
            "chroma_host": None,
            "today": DEMO_TODAY,
            "rate_limit": "",
        }
        | overrides
    )


def build(settings: Settings, *, cache: bool = True) -> Runtime:
    """The demo org and its knowledge base into ``settings``' (fresh) locations."""
    from copilot.demo.install import init_demo

    runtime = Runtime(settings)
    if cache and hasattr(runtime.embedder, "persist_to"):  # the caching wrapper every model is loaded in
        runtime.embedder.persist_to(cache_dir() / "embedding-cache.sqlite3")
    init_demo(runtime)
    return runtime


@contextmanager
def fresh_demo(base: Settings | None = None, *, cache: bool = True, **overrides: Any) -> Iterator[Runtime]:
    """A runtime on a newly generated demo in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="crm-copilot-eval-") as tmp:
        runtime = build(fresh_settings(Path(tmp), base, **overrides), cache=cache)
        try:
            yield runtime
        finally:
            runtime.close()
