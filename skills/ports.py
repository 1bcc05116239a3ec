"""The ports a skill works through: typed protocols, each already bound to the asker by the service.

A skill never sees a database session, the runtime or a client: it gets these (on ``SkillContext``) and
nothing else, so there is no way for it to read past the principal's permissions or to call a model
around the gateway. The service (copilot/service/turn.py) plugs in the real adapters; prompt preview
plugs in a pinned template registry and a composer that records instead of calling a model.

- records    ``copilot.crm.repository.Records`` (a class, not a protocol: there is one repository).
- knowledge  KB search under the principal's ACL (retrievers/knowledge.py).
- composer   the model gateway (copilot/llm/gateway.py): masking, retries, breaker, offline fallback.
- templates  the prompt registry (prompts/registry.py).
- clock      the business day (copilot/core/clock.py): a deployment may pin "today".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from copilot.core.settings import Settings
from copilot.llm.gateway import LLMResult
from copilot.llm.structured import JsonSchema
from prompts.registry import RenderedPrompt
from retrievers.hybrid import SearchHit


class Knowledge(Protocol):
    """The knowledge base as one principal may read it; the ACL is bound in, never a parameter."""

    def search(self, query: str, k: int = 6) -> list[SearchHit]:
        """Top-k chunks (chunk level: several sections of one article may come back)."""
        ...

    def document_chunks(self, doc_id: str) -> list[SearchHit]:
        """Every live chunk of one document, in order; empty when missing or not readable."""
        ...


class TextStream(Protocol):
    """A streamed model call: iterate for text pieces; ``result`` is set once iteration is done."""

    result: LLMResult | None

    def __iter__(self) -> Iterator[str]: ...


class Composer(Protocol):
    """Where rendered prompts go to be answered (the gateway, or prompt preview's recorder)."""

    @property
    def is_offline(self) -> bool:
        """True when no model answers (the offline provider, preview): nothing to stream or mask."""
        ...

    def run(
        self,
        prompt: RenderedPrompt,
        *,
        names: Iterable[str] = (),
        json_schema: JsonSchema | None = None,
        injection_detected: bool = False,
        flagged_documents: Sequence[str] = (),
    ) -> LLMResult: ...

    def stream(
        self,
        prompt: RenderedPrompt,
        *,
        names: Iterable[str] = (),
        injection_detected: bool = False,
        flagged_documents: Sequence[str] = (),
    ) -> TextStream: ...


class Templates(Protocol):
    def render(
        self, template_id: str, variables: Mapping[str, Any], *, version: str | int | None = None, locale: str = "zh"
    ) -> RenderedPrompt: ...


class Clock(Protocol):
    """The one source of time for a skill. ``pinned``: the business day is fixed by the deployment (the
    demo's), so answers that depend on the time of day read it at a fixed hour and replay exactly."""

    @property
    def pinned(self) -> bool: ...

    def today(self) -> dt.date: ...

    def now(self) -> dt.datetime: ...


@dataclass(frozen=True)
class SkillSettings:
    """The few deployment settings a skill reads (not the whole Settings: no URLs, keys or paths)."""

    # Mask people's names from the records before a prompt leaves for a model (phones/e-mails always are).
    mask_contact_names: bool = True
    # How much of a long message a parser or a search looks at (copilot.core.bounds.query_text).
    max_query_chars: int = 128

    @classmethod
    def from_settings(cls, settings: Settings) -> SkillSettings:
        return cls(mask_contact_names=settings.mask_contact_names, max_query_chars=settings.max_query_chars)
