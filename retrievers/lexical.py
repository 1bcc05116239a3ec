"""BM25 with Chinese-aware tokens, and the permission mask applied before the top-k.

Tokens: jieba words *and* character bigrams for CJK runs (jieba alone misses domain compounds it
never saw, bigrams alone lose word boundaries — together they are robust), lowercase words for Latin
text, and product / alarm codes such as ``LC-3015`` or ``E-204`` kept whole (also without the hyphen,
so ``E204`` in a question finds ``E-204`` in a document).

The index is an inverted list per term (numpy arrays), so a query touches only the postings of its
own terms; every row carries its ACL group, and rows outside the asker's groups score ``-inf``
before the top-k is taken, so the top-k is the top-k of what the asker may read.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

_CODE = re.compile(r"[A-Za-z]{1,6}-?\d+[A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*|\d+(?:\.\d+)?")
CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

# Function words that carry no topic; kept short on purpose (BM25's idf handles the rest).
_STOP_WORDS = """
a an and are as at be by can do does for from how i if in is it my of on or our should the this to what
when where which who why with you your me we
的 了 和 是 在 有 也 就 都 而 及 与 或 吗 呢 吧 啊 怎么 怎样 如何 什么 哪些 为什么 一个 这个 那个 我们 你们 请问
"""
_STOP = frozenset(_STOP_WORDS.split())


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def tokenize(text: str) -> list[str]:
    """Index and query tokens for mixed Chinese/English text (same function on both sides)."""
    tokens: list[str] = []
    for code in _CODE.findall(text):
        code = code.lower()
        tokens.append(code)
        if "-" in code:
            tokens.append(code.replace("-", ""))
    # Latin words (outside the CJK runs); codes above were also split here, which keeps "3015" alone
    # matching "LC-3015".
    for word in _LATIN_WORD.findall(text):
        word = word.lower()
        if word not in _STOP and (len(word) > 1 or word.isdigit()):
            tokens.append(word)
    jieba = _jieba()
    for run in _CJK_RUN.findall(text):
        for word in jieba.lcut(run):
            if word not in _STOP and len(word) > 1:
                tokens.append(word)
        if len(run) == 1:
            if run not in _STOP:
                tokens.append(run)
        else:
            tokens.extend(bg for bg in (run[i : i + 2] for i in range(len(run) - 1)) if bg not in _STOP)
    return tokens


class BM25Index:
    """Okapi BM25 over rows that each belong to one ACL group (an int)."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.ids: list[str] = []
        self._row_of: dict[str, int] = {}
        self._groups: list[int] = []
        self._lengths: list[int] = []
        self._alive: list[bool] = []
        self._postings: dict[str, tuple[list[int], list[int]]] = {}
        self._frozen: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._n_alive = 0
        self._total_len = 0
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return self._n_alive

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._row_of

    def add(self, chunk_id: str, text: str, group: int) -> None:
        if chunk_id in self._row_of:
            self.remove([chunk_id])
        row = len(self.ids)
        self.ids.append(chunk_id)
        self._row_of[chunk_id] = row
        self._groups.append(group)
        counts = Counter(tokenize(text))
        length = sum(counts.values())
        self._lengths.append(length)
        self._alive.append(True)
        self._arrays = None
        self._n_alive += 1
        self._total_len += length
        for term, tf in counts.items():
            rows, tfs = self._postings.setdefault(term, ([], []))
            rows.append(row)
            tfs.append(tf)
            self._frozen.pop(term, None)

    def remove(self, chunk_ids: Iterable[str]) -> None:
        # Tombstones: postings keep the row, the alive mask drops it. Cheap, and a rebuild on
        # load compacts everything.
        for chunk_id in chunk_ids:
            row = self._row_of.pop(chunk_id, None)
            if row is None:
                continue
            self._alive[row] = False
            self._arrays = None
            self._n_alive -= 1
            self._total_len -= self._lengths[row]

    def _posting(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        frozen = self._frozen.get(term)
        if frozen is None:
            raw = self._postings.get(term)
            if raw is None:
                return None
            rows, tfs = list(raw[0]), list(raw[1])
            n = min(len(rows), len(tfs))  # an add() in another thread may be between its two appends
            frozen = (np.asarray(rows[:n], dtype=np.int64), np.asarray(tfs[:n], dtype=np.float32))
            self._frozen[term] = frozen
        return frozen

    def _visible(self, allowed_groups: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The row arrays as of now (groups, lengths; cached until the next write) and the mask of live rows
        whose group is allowed (None: all groups)."""
        arrays = self._arrays
        if arrays is None:
            n = min(len(self._groups), len(self._alive), len(self._lengths))
            arrays = self._arrays = (
                np.asarray(self._groups[:n], dtype=np.int64),
                np.asarray(self._alive[:n], dtype=bool),
                np.asarray(self._lengths[:n], dtype=np.float32),
            )
        groups, alive, lengths = arrays
        mask = alive.copy()
        if allowed_groups is not None:
            mask &= np.isin(groups, np.asarray(list(allowed_groups), dtype=np.int64))
        return groups, mask, lengths

    def chunks_with(
        self, terms: Iterable[str], allowed_groups: Sequence[int] | None, max_df: float | None = None
    ) -> tuple[int, dict[str, int], dict[str, list[str]]]:
        """How many rows the asker may read; for each term how many of them contain it; and the live chunk
        ids among them for the terms in at most ``max_df`` of those rows (all terms when None). Read-only,
        for the exact-token evidence in retrievers.hybrid: common terms are counted, not listed, so the
        cost stays small at 100k chunks."""
        groups, mask, _ = self._visible(allowed_groups)
        n = len(groups)
        n_visible = int(np.count_nonzero(mask))
        limit = None if max_df is None else max(1.0, max_df * n_visible)
        counts: dict[str, int] = {}
        found: dict[str, list[str]] = {}
        for term in terms:
            posting = self._posting(term)
            if posting is None:
                continue
            rows = posting[0]
            rows = rows[rows < n]
            visible = rows[mask[rows]]
            counts[term] = len(visible)
            if limit is None or len(visible) <= limit:
                found[term] = [self.ids[r] for r in visible]
        return n_visible, counts, found

    def search(
        self, query: str, allowed_groups: Sequence[int] | None, k: int
    ) -> list[tuple[str, float]]:
        """Top-k (chunk id, score) among rows whose group is allowed (None: all groups).

        Safe while a writer of this process adds or removes rows (searches do not wait for writers):
        it scores the rows that existed when it took its arrays; a row added meanwhile waits for the
        next search.
        """
        if not self._n_alive or k <= 0:
            return []
        terms = Counter(tokenize(query))
        if not terms:
            return []
        groups, mask, lengths = self._visible(allowed_groups)
        n_rows = len(groups)
        n_visible = int(np.count_nonzero(mask))
        if not n_visible:
            return []
        # Statistics (idf, average length) come from the asker's own slice: a score must not depend
        # on documents they may not read, or it would hint at how hidden documents use a term.
        avg = float(lengths[mask].mean()) or 1.0
        scores = np.zeros(n_rows, dtype=np.float32)
        for term, qtf in terms.items():
            posting = self._posting(term)
            if posting is None:
                continue
            rows, tfs = posting
            if len(rows) and rows[-1] >= n_rows:  # added after our arrays were taken
                known = rows < n_rows
                rows, tfs = rows[known], tfs[known]
            live = mask[rows]
            rows, tfs = rows[live], tfs[live]
            df = len(rows)
            if not df:
                continue
            idf = math.log(1 + (n_visible - df + 0.5) / (df + 0.5))
            denom = tfs + self.k1 * (1 - self.b + self.b * lengths[rows] / avg)
            scores[rows] += qtf * idf * tfs * (self.k1 + 1) / denom
        scores[~mask] = 0.0
        candidates = np.flatnonzero(scores > 0)
        if not len(candidates):
            return []
        top = candidates[np.argpartition(-scores[candidates], k - 1)[:k]] if len(candidates) > k else candidates
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[r], float(scores[r])) for r in top]
