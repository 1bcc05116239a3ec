"""Keep untrusted text from steering the model.

Two sources of untrusted text reach a prompt: the user's own question, and retrieved text (KB chunks,
CRM free text). Both are checked for instructions that try to change the model's role, the user's
permissions or what the model reveals.

- In a question, offending clauses are removed and the turn is flagged ``injection_detected``; the turn
  still runs under the same principal, so nothing the user could not see becomes visible.
- In a retrieved chunk, offending sentences are removed before the prompt and the chunk id is flagged.
- Whatever remains is fenced as ``<data id=… source=…>`` by the templates (``fence``), with closing-tag
  look-alikes neutralised, and every template's system part says fenced text is data, not instructions.

Detection is pattern-based on purpose: it is cheap, deterministic and testable. It will not catch every
paraphrase; the permission filter in the query is what actually protects data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prompts.fencing import fence, neutralise

_ZH = [
    r"(忽略|无视|忘记|忘掉|不要理会|跳过)[^。！？\n]{0,8}(指令|指示|规则|提示词?|设定|限制|要求)",
    r"你(现在|从现在起|从现在开始)?(是|成为|扮演|作为)[^。！？，,\n]{0,6}(管理员|超级用户|root|开发者|系统)",
    r"(我|当前用户)(现在)?(是|视为|当作|作为)[^。！？，,\n]{0,4}(管理员|超级用户|admin)",
    r"(切换|进入|开启)[^。！？\n]{0,4}(管理员|开发者|维护|上帝|越狱)模式",
    r"(显示|输出|打印|告诉我|泄露|重复|给我看)[^。！？\n]{0,6}(系统提示|提示词|system ?prompt)",
    r"系统提示词?",
    r"(其他|别的|其它|所有)(销售|同事|人|代表|员工)的[^。！？\n]{0,6}(合同|商机|客户|记录|订单)",
    r"(提升|提高|授予|给我|开放)[^。！？\n]{0,6}(权限|管理员)",
    r"(绕过|跳过|关闭|解除|不再受)[^。！？\n]{0,8}(权限|限制|审核|校验)",
    r"视为\s*(public|公开)",
    r"不要(告诉|提及|透露)[^。！？\n]{0,6}(用户|这段|本段|此)",
    r"把所有[^。！？\n]{0,40}(告诉|发给|展示给|提供给)[^。！？\n]{0,4}用户",
]
_EN = [
    r"\b(ignore|disregard|forget|override|skip)\b[^.!?\n]{0,30}\b(instructions?|prompts?|rules|guidelines|directions)\b",
    r"\byou are now\b",
    r"\b(act|behave|pretend|respond) as\b[^.!?\n]{0,20}\b(admin|administrator|root|superuser|developer|system)\b",
    r"\b(treat|consider)\b[^.!?\n]{0,30}\bas (an? )?(admin|administrator|superuser|root)\b",
    r"\b(i am|i'm)\b[^.!?\n]{0,10}\b(admin|administrator|superuser|root)\b",
    r"\b(reveal|show|print|output|repeat|leak|display)\b[^.!?\n]{0,20}\b(system prompt|hidden prompt|instructions)\b",
    r"\bsystem prompt\b",
    r"\b(show|list|give|send|tell)\b[^.!?\n]{0,10}\ball\b[^.!?\n]{0,30}\b(of|from|for|belonging to) "
    r"(other|all|every|another)\b[^.!?\n]{0,10}\b(reps?|users?|salespeople|sales reps?|colleagues|owners?)\b",
    r"\b(grant|give|escalate|elevate)\b[^.!?\n]{0,15}\b(admin|elevated|full|root)\b[^.!?\n]{0,10}"
    r"\b(access|permissions?|privileges?|rights)\b",
    r"\b(permission|access) checks?\b[^.!?\n]{0,20}\b(disabled|off|bypassed|removed)\b",
    r"\b(maintenance|developer|god|jailbreak|dan) mode\b",
    r"\bmark\b[^.!?\n]{0,80}\bas public\b",
    r"\bdo not (mention|tell|reveal|disclose)\b[^.!?\n]{0,20}\b(this|the) (note|instruction|message)s?\b",
    r"\breveal\b[^.!?\n]{0,20}\b(restricted|confidential|hidden|secret)\b",
]
INJECTION_PATTERNS: tuple[re.Pattern[str], ...] = tuple(re.compile(p, re.IGNORECASE) for p in _ZH + _EN)

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])|(?<=[.!?])(?=\s)")
_CLAUSE_END = re.compile(r"(?<=[。！？!?；;\n，,])|(?<=[.!?])(?=\s)")


def find_injections(text: str) -> list[str]:
    """The phrases that look like attempts to change role, permissions or what is revealed."""
    return [m.group(0) for p in INJECTION_PATTERNS for m in p.finditer(text)]


def is_injection(text: str) -> bool:
    return any(p.search(text) for p in INJECTION_PATTERNS)


def strip_injections(text: str, *, clauses: bool = False) -> tuple[str, list[str]]:
    """Remove each sentence (or clause) containing an injection; returns (clean text, removed pieces)."""
    pieces = (_CLAUSE_END if clauses else _SENTENCE_END).split(text)
    kept: list[str] = []
    removed: list[str] = []
    for piece in pieces:
        (removed if is_injection(piece) else kept).append(piece)
    clean = "".join(kept).strip()
    clean = re.sub(r"^[，,；;、\s]+", "", clean)
    return clean, [r.strip() for r in removed if r.strip()]


@dataclass(frozen=True)
class QuestionCheck:
    original: str
    # What goes into the prompt: the question without the offending clauses.
    text: str
    injection_detected: bool
    removed: tuple[str, ...] = ()

    @property
    def nothing_left(self) -> bool:
        """The whole message was an injection attempt: answer with a refusal, not a model call."""
        return self.injection_detected and not self.text


def check_question(question: str) -> QuestionCheck:
    if not is_injection(question):
        return QuestionCheck(original=question, text=question, injection_detected=False)
    clean, removed = strip_injections(question, clauses=True)
    return QuestionCheck(original=question, text=clean, injection_detected=True, removed=tuple(removed))


@dataclass(frozen=True)
class SnippetCheck:
    items: list[dict[str, Any]]
    flagged_ids: tuple[str, ...] = ()
    removed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def injection_detected(self) -> bool:
        return bool(self.flagged_ids)


def sanitize_snippets(
    snippets: Iterable[Mapping[str, Any]], *, text_key: str = "text", id_key: str = "id", drop_empty: bool = True
) -> SnippetCheck:
    """Copies of the snippets with injection sentences removed; flagged ids; a chunk left empty is dropped."""
    items: list[dict[str, Any]] = []
    flagged: list[str] = []
    removed: dict[str, list[str]] = {}
    for snip in snippets:
        item = dict(snip)
        text = str(item.get(text_key) or "")
        if is_injection(text):
            clean, gone = strip_injections(text)
            sid = str(item.get(id_key, ""))
            flagged.append(sid)
            removed[sid] = gone
            item[text_key] = clean
            item["flagged"] = True
            if drop_empty and not clean:
                continue
        items.append(item)
    return SnippetCheck(items=items, flagged_ids=tuple(flagged), removed=removed)


__all__ = [
    "INJECTION_PATTERNS",
    "QuestionCheck",
    "SnippetCheck",
    "check_question",
    "fence",
    "find_injections",
    "is_injection",
    "neutralise",
    "sanitize_snippets",
    "strip_injections",
]
