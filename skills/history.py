"""Earlier turns of the conversation in a model prompt: user and assistant messages before the last one.

The service has already bounded the turns and re-checked them against the asker's permissions (a turn
that quoted a record they lost has no answer left); the gateway masks personal data in every message,
these included, before anything reaches a model. Drafts the earlier answer proposed (actions) are
written out under it, so "把第二条建议的草稿改得更正式一点" has the second draft to work on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from prompts.registry import RenderedPrompt
from skills.base import PriorTurn

MAX_DRAFT_CHARS = 600


def history_messages(history: Sequence[PriorTurn]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    for turn in history:
        if turn.message.strip():
            messages.append({"role": "user", "content": turn.message})
        answer = _answer_text(turn)
        if answer:
            messages.append({"role": "assistant", "content": answer})
    return messages


def with_history(rendered: RenderedPrompt, history: Sequence[PriorTurn]) -> RenderedPrompt:
    """``rendered`` with the earlier turns between its system message(s) and its final user message."""
    earlier = history_messages(history)
    if not earlier:
        return rendered
    messages = list(rendered.messages)
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=len(messages))
    return dataclasses.replace(rendered, messages=[*messages[:last_user], *earlier, *messages[last_user:]])


def _answer_text(turn: PriorTurn) -> str:
    lines = [turn.answer.strip()] if turn.answer.strip() else []
    for i, action in enumerate(turn.actions, 1):
        if action.get("kind") in ("choose_skill", "choose_option"):  # the options are in the answer already
            continue
        title = str(action.get("title") or "").strip()
        draft = str(action.get("draft") or "").strip()
        if draft and draft != title:
            lines.append(f"{i}. {title}\n{draft[:MAX_DRAFT_CHARS]}")
    return "\n".join(lines)
