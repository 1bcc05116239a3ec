"""Prompt preview: the prompt a skill would send for a real record, without calling a model.

Used by ``crm-copilot prompts render --object TYPE:ID`` and ``POST /v1/prompts/{id}/render`` with a
``context``. It is ``Assistant.turn`` in render-only mode, so a preview passes the same door as an
answer: input bounds and validation, the injection check, the page-record 404, the skill's role check,
the same retrieval under the asker's permissions, the citation check and an audit row (provider
``preview``). Only two ports differ: the template registry pins the requested version of the one
template, and the composer records each rendered prompt and answers with its offline text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from copilot.core.errors import BadRequest
from copilot.core.locale import Locale
from copilot.crm.principal import Principal
from copilot.llm.gateway import LLMResult
from copilot.llm.structured import JsonSchema
from copilot.service.turn import Assistant, RenderOnly
from prompts.registry import RenderedPrompt
from skills.base import PageContext, SkillRequest
from skills.ports import Templates

PROVIDER = "preview"

# What the preview asks when the caller gives no message: a typical request of each skill.
DEFAULT_MESSAGES: dict[str, tuple[str, str]] = {
    "record_qa": ("帮我总结一下这条记录", "Summarise this record"),
    "troubleshoot": ("给我排查步骤", "Give me troubleshooting steps"),
    "reply_suggestion": ("帮我回复客户", "Draft a reply to the customer"),
    "marketing_copy": ("写一条企业微信消息", "Write a WeCom message"),
}


class PinnedTemplates:
    """A template registry with one template id pinned to a version (the others render as usual)."""

    def __init__(self, inner: Templates, template_id: str, version: str | None) -> None:
        self._inner, self._template_id, self._version = inner, template_id, version

    def render(
        self, template_id: str, variables: Mapping[str, Any], *, version: str | int | None = None, locale: str = "zh"
    ) -> RenderedPrompt:
        if template_id == self._template_id:
            version = self._version
        return self._inner.render(template_id, variables, version=version, locale=locale)


class _Recorded:
    """The "stream" of a recorded prompt: its offline text in one piece (never used: preview is offline)."""

    def __init__(self, result: LLMResult) -> None:
        self.result: LLMResult | None = result

    def __iter__(self) -> Iterator[str]:
        assert self.result is not None
        yield self.result.text


class RecordingComposer:
    """The composer of a preview: keeps every rendered prompt, calls no model, answers the offline text."""

    is_offline = True  # nothing leaves the process: no streaming, nothing to mask

    def __init__(self) -> None:
        self.prompts: list[RenderedPrompt] = []

    def run(
        self,
        prompt: RenderedPrompt,
        *,
        names: Iterable[str] = (),
        json_schema: JsonSchema | None = None,
        injection_detected: bool = False,
        flagged_documents: Sequence[str] = (),
    ) -> LLMResult:
        self.prompts.append(prompt)
        return LLMResult(
            text=prompt.offline_text,
            provider=PROVIDER,
            model=PROVIDER,
            template=prompt.ref,
            template_hash=prompt.hash,
            locale=prompt.locale,
            injection_detected=injection_detected,
            flagged_documents=tuple(flagged_documents),
        )

    def stream(
        self,
        prompt: RenderedPrompt,
        *,
        names: Iterable[str] = (),
        injection_detected: bool = False,
        flagged_documents: Sequence[str] = (),
    ) -> _Recorded:
        return _Recorded(self.run(prompt, injection_detected=injection_detected, flagged_documents=flagged_documents))


def render_for_record(
    assistant: Assistant,
    session: Session,
    principal: Principal,
    template_id: str,
    version: str | int | None,
    object_type: str,
    object_id: int,
    locale: Locale = "zh",
    *,
    message: str | None = None,
    input: dict[str, Any] | None = None,
) -> RenderedPrompt:
    """The prompt ``template_id@version`` would send for this record, as ``principal`` sees it. The turn's
    audit row is added to ``session``: the caller commits it."""
    spec = next((s for s in assistant.specs.values() if s.template == template_id), None)
    if spec is None:
        raise BadRequest(f"no skill renders template {template_id!r} for a record")
    composer = RecordingComposer()
    pinned = PinnedTemplates(assistant.runtime.prompts, template_id, None if version is None else str(version))
    request = SkillRequest(
        message=message if message is not None else DEFAULT_MESSAGES.get(spec.name, ("", ""))[locale != "zh"],
        input=dict(input or {}),
        context=PageContext(object_type=object_type, object_id=object_id),
        locale=locale,
    )
    assistant.turn(session, principal, request, skill=spec.name, render_only=RenderOnly(pinned, composer))
    rendered = [p for p in composer.prompts if p.id == template_id]
    if not rendered:
        raise BadRequest(f"skill {spec.name!r} did not render {template_id!r} for {object_type}:{object_id}")
    return rendered[-1]
