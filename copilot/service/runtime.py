"""The long-lived parts of one running copilot (database, knowledge base, model gateway, templates),
built lazily from Settings and shared by the CLI, the HTTP app and the evaluation harness."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from copilot.core.settings import Settings, get_settings
from copilot.crm.db import make_engine, session_factory
from copilot.service.connections import engine_options

if TYPE_CHECKING:
    from copilot.llm.gateway import Gateway
    from copilot.service.turn import Assistant
    from prompts.registry import Registry
    from retrievers.embedding import Embedder
    from retrievers.hybrid import KnowledgeIndex


class Runtime:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.resolved_database_url, **engine_options(self.settings))

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @cached_property
    def embedder(self) -> Embedder:
        """One embedding model per process, shared by the knowledge base and the skill router."""
        from retrievers.embedding import load_embedder

        return load_embedder(self.settings.embedding_model)

    @cached_property
    def prompts(self) -> Registry:
        """The packaged templates plus the deployment's own (settings.prompts_dir), loaded and checked once."""
        from prompts.registry import Registry

        return Registry.load(self.settings.prompts_dir)

    @cached_property
    def llm(self) -> Gateway:
        """The model gateway for settings.llm_provider (offline by default)."""
        from copilot.llm.gateway import Gateway

        return Gateway.from_settings(self.settings)

    @cached_property
    def assistant(self) -> Assistant:
        from copilot.service.turn import Assistant

        return Assistant(self)

    @cached_property
    def kb(self) -> KnowledgeIndex:
        """The knowledge-base index (Chroma + BM25), loaded on first use."""
        from retrievers.hybrid import KnowledgeIndex

        index = KnowledgeIndex.open(self.settings)
        if self.settings.kb_query_translation and self.settings.llm_provider != "offline":
            from retrievers.translate import QueryTranslator

            # A question in one language also searched in the other, through the gateway (bounded, cached).
            index.translator = QueryTranslator(self.llm)
        return index

    def warm_up(self) -> None:
        """Build what the first request would otherwise wait for."""
        _ = self.kb
        _ = self.assistant.router

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
        if "kb" in self.__dict__:
            self.kb.close()
