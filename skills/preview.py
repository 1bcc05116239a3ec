"""Render a skill's prompt for a real record without calling a model.

Used by ``crm-copilot prompts render`` and ``POST /v1/prompts/{id}/render``: the skill that owns the
template runs as usual (same retrieval, same permission filters, same variables), but the model gateway
is replaced by a recorder that keeps the rendered prompt and answers nothing, and the registry is
pinned to the requested version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from copilot.core.errors import BadRequest
from skills.base import PageContext, SkillContext, SkillRequest, load_specs

if TYPE_CHECKING:
    from copilot.crm.principal import Principal
    from copilot.service.runtime import Runtime
    from prompts.registry import Registry, RenderedPrompt

DEFAULT_MESSAGES = {
    "record_qa": ("帮我总结一下这条记录", "Summarise this record"),
    "troubleshoot": ("给我排查步骤", "Give me troubleshooting steps"),
    "reply_suggestion": ("帮我回复客户", "Draft a reply to the customer"),
    "marketing_copy": ("写一条企业微信消息", "Write a WeCom message"),
}


class _PinnedRegistry:
    """The runtime's registry, with one template id pinned to the requested version."""

    def __init__(self, inner: Registry, template_id: str, version: str | None) -> None:
        self.inner, self.template_id, self.version = inner, template_id, version

    def render(self, template_id: str, variables: Any, *, version: Any = None, locale: str = "zh") -> RenderedPrompt:
        if template_id == self.template_id:
            version = self.version
        return self.inner.render(template_id, variables, version=version, locale=locale)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class _Recorded:
    text: str
    provider: str = "preview"
    degraded: bool = False
    degraded_reason: str | None = None
    parsed: Any = None


class _Recorder:
    """Stands in for the gateway: keeps every rendered prompt, calls nothing."""

    def __init__(self) -> None:
        self.prompts: list[RenderedPrompt] = []

    def run(self, prompt: RenderedPrompt, **_: Any) -> _Recorded:
        self.prompts.append(prompt)
        return _Recorded(text=prompt.offline_text)


class _PreviewRuntime:
    def __init__(self, runtime: Runtime, registry: _PinnedRegistry, recorder: _Recorder) -> None:
        self._runtime, self.prompts, self.llm = runtime, registry, recorder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime, name)


def render_for_record(
    runtime: Runtime,
    template_id: str,
    version: str | int | None,
    object_type: str,
    object_id: int,
    principal: Principal,
    locale: str = "zh",
    *,
    message: str | None = None,
    input: dict[str, Any] | None = None,
) -> RenderedPrompt:
    """The prompt ``template_id@version`` would send for this record, as ``principal`` sees it."""
    spec = next((s for s in load_specs().values() if s.template == template_id), None)
    if spec is None:
        raise BadRequest(f"no skill renders template {template_id!r} for a record")
    spec.check_allowed(principal)
    pinned = _PinnedRegistry(runtime.prompts, template_id, None if version is None else str(version))
    recorder = _Recorder()
    preview_rt = _PreviewRuntime(runtime, pinned, recorder)
    lang = 0 if locale == "zh" else 1
    request = SkillRequest(
        message=message or DEFAULT_MESSAGES.get(spec.name, ("", ""))[lang],
        input=dict(input or {}),
        context=PageContext(object_type=object_type, object_id=object_id),
        locale=locale,  # type: ignore[arg-type]
    )
    with runtime.sessions() as session:
        ctx = SkillContext(principal=principal, session=session, runtime=preview_rt, locale=locale)  # type: ignore[arg-type]
        spec.resolve()(request, ctx)
    rendered = [p for p in recorder.prompts if p.id == template_id]
    if not rendered:
        raise BadRequest(f"skill {spec.name!r} did not render {template_id!r} for {object_type}:{object_id}")
    return rendered[-1]
