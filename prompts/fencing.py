"""Retrieved text is data, not instructions: wrap each block in ``<data id=… source=…>…</data>``.

Lives here (not in ``copilot.llm.trust``) because templates apply it while rendering, and ``prompts``
imports nothing of ours; the trust layer re-exports it.
"""

from __future__ import annotations

import re

# Anything that a model could read as opening or closing our fence: "</data>", "< / DATA", "<data id=…".
_TAG_LOOKALIKE = re.compile(r"<(\s*/?\s*data\b)", re.IGNORECASE)
_ATTR_UNSAFE = re.compile(r'[<>"\'&\s]')


def neutralise(text: str) -> str:
    """Defang fence look-alikes inside untrusted text; a fullwidth '＜' keeps it readable, not a tag."""
    return _TAG_LOOKALIKE.sub(lambda m: "＜" + m.group(1), text)


def _attr(value: object) -> str:
    return _ATTR_UNSAFE.sub("_", str(value))[:120]


def fence(text: object, id: object = "", source: str = "kb") -> str:
    """One untrusted block, fenced. ``id`` and ``source`` are reduced to safe attribute characters."""
    body = neutralise("" if text is None else str(text))
    return f'<data id="{_attr(id)}" source="{_attr(source)}">\n{body}\n</data>'
