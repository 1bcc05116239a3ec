"""Query translation for cross-lingual search: one short model call through the gateway, when a model is
configured. A Chinese question is also searched in English and an English one in Chinese, so BM25 can
match the answering document's own words and the embedding compares like with like.

Bounded: the query is cut to ``max_query_chars`` before it leaves, the answer to one line of
``max_answer_chars``, ``max_tokens`` caps the call, and the gateway's deadline, retries and breaker apply
as to every call (names are masked by the gateway as usual). Cached: one call per distinct query (LRU).
Off in the offline provider (there is no one to ask), and any degraded answer (timeout, error, breaker
open) means "no translation" — the search goes on with the original query, and the failure is not cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from copilot.llm.types import CompletionOptions
from retrievers.lexical import CJK_CHAR

if TYPE_CHECKING:
    from copilot.llm.gateway import Gateway

INSTRUCTION = (
    "You translate search queries for a company knowledge base (equipment service, sales and CRM). "
    "Translate the user's query into {target}. Keep product names, model numbers and alarm codes unchanged. "
    "Answer with the translation only, on one line, without quotes or explanations."
)


class QueryTranslator:
    def __init__(
        self,
        gateway: Gateway,
        *,
        max_query_chars: int = 200,
        max_answer_chars: int = 300,
        max_tokens: int = 120,
        cache_size: int = 2048,
    ) -> None:
        self.gateway = gateway
        self.max_query_chars = max_query_chars
        self.max_answer_chars = max_answer_chars
        self.max_tokens = max_tokens
        self.cache_size = cache_size
        self._cache: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()
        self.calls = 0  # model calls made (tests and the eval read it)

    @staticmethod
    def target_language(query: str) -> str:
        # Any Chinese in it (Chinese or mixed): English is the other side; pure Latin text: Chinese.
        return "English" if CJK_CHAR.search(query) else "Simplified Chinese"

    def __call__(self, query: str) -> str | None:
        """The query in the other language, or None (offline, degraded, empty or unchanged answer)."""
        if self.gateway.is_offline:
            return None
        text = query.strip()[: self.max_query_chars]
        if not text:
            return None
        with self._lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                return self._cache[text]
        result = self.gateway.chat(
            [
                {"role": "system", "content": INSTRUCTION.format(target=self.target_language(text))},
                {"role": "user", "content": text},
            ],
            options=CompletionOptions(temperature=0, max_tokens=self.max_tokens),
        )
        self.calls += 1
        if result.degraded:
            return None
        lines = [line.strip() for line in (result.text or "").splitlines() if line.strip()]
        answer = lines[0].strip("\"'“”「」")[: self.max_answer_chars].strip() if lines else ""
        translated = answer if answer and answer != text else None
        with self._lock:
            self._cache[text] = translated
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return translated
