"""The default provider: no network, no model. It answers with the template's ``offline`` part, which the
template composes directly from the grounded facts, so the copilot is useful with nothing configured."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from copilot.llm.structured import InvalidStructuredOutput, JsonSchema, validate_json
from copilot.llm.types import Completion, CompletionOptions, Message

NO_TEMPLATE_TEXT = "(offline: no language model is configured, and this request carried no offline answer)"


class OfflineProvider:
    name = "offline"
    model = "offline"

    def complete(
        self,
        messages: Sequence[Message],
        *,
        json_schema: JsonSchema | None = None,
        options: CompletionOptions | None = None,
    ) -> Completion:
        start = time.perf_counter()
        text = (options.offline_text if options else "") or NO_TEMPLATE_TEXT
        parsed = None
        if json_schema is not None:
            # Only a template whose offline part renders JSON can satisfy a schema offline.
            try:
                parsed = validate_json(text, json_schema)
            except InvalidStructuredOutput:
                parsed = None
        return Completion(text=text, provider=self.name, model=self.model, parsed=parsed, latency_ms=_ms_since(start))

    def stream(self, messages: Sequence[Message], *, options: CompletionOptions | None = None) -> Iterator[str]:
        yield (options.offline_text if options else "") or NO_TEMPLATE_TEXT


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
