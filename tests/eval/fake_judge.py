"""A deterministic judge for ragas' prompts, served by tests/fakes/openai_server.JudgeServer.

It reads the output schema ragas asks for (the JSON Schema title in the prompt) and the input block, and
judges by word overlap instead of understanding: a statement is supported when nearly all its words are in
the context, a context is useful when it shares words with the answer, an answer saying "no information"
is non-committal. Crude, but it moves the way a real judge would: an answer that invents facts scores
lower on faithfulness than one that repeats its context.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TITLE = re.compile(r'"title": "(\w+)", "type": "object"\}Do not use')
_WORD = re.compile(r"[\u4e00-\u9fff]|[A-Za-z0-9][A-Za-z0-9.,:-]*")
_CITE = re.compile(r"\[(?:crm|kb):[^\]]+\]")


def words(text: str) -> list[str]:
    return [w.lower().strip(".,:") for w in _WORD.findall(_CITE.sub("", text))]


def supported(statement: str, context: str) -> bool:
    got, have = words(statement), set(words(context))
    return bool(got) and sum(w in have for w in got) / len(got) >= 0.8


def _input(prompt: str) -> dict[str, Any]:
    tail = prompt.rsplit("Now perform the same with the following input", 1)[-1]
    block = tail.split("input:", 1)[-1].rsplit("Output:", 1)[0].strip()
    return dict(json.loads(block))


def respond(body: dict[str, Any]) -> str:
    prompt = str(body["messages"][-1]["content"])
    title = (_TITLE.findall(prompt) or ["?"])[0]
    data = _input(prompt)
    if title == "StatementGeneratorOutput":
        parts = [p.strip() for p in re.split(r"[\n。；;]+", _CITE.sub("", data["answer"])) if p.strip(" -")]
        return json.dumps({"statements": parts}, ensure_ascii=False)
    if title == "NLIStatementOutput":
        context = data["context"]
        return json.dumps(
            {
                "statements": [
                    {"statement": s, "reason": "overlap", "verdict": int(supported(s, context))}
                    for s in data["statements"]
                ]
            },
            ensure_ascii=False,
        )
    if title == "ResponseRelevanceOutput":
        text = data["response"]
        noncommittal = int(any(p in text for p in ("没有这方面的信息", "don't know", "no information")))
        return json.dumps({"question": _CITE.sub("", text), "noncommittal": noncommittal}, ensure_ascii=False)
    if title == "Verification":
        shared = set(words(data["context"])) & set(words(data["answer"]))
        return json.dumps({"reason": "overlap", "verdict": int(len(shared) >= 2)}, ensure_ascii=False)
    if title == "StringIO":
        return json.dumps({"text": data.get("output_string", "")}, ensure_ascii=False)
    return "{}"
