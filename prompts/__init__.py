"""The prompt-template registry; one folder per template id, one file per version and locale.

from prompts import Registry
reg = Registry.load(settings.prompts_dir)
rendered = reg.get("record_qa", locale="en").render({...})   # -> RenderedPrompt
"""

from prompts.errors import (
    TemplateError,
    TemplateLoadError,
    TemplateNotFound,
    TemplateRenderError,
    TemplateVariableError,
)
from prompts.fencing import fence, neutralise
from prompts.registry import PACKAGED_DIR, Registry, RenderedPrompt, Template, load_template, parse_ref

__all__ = [
    "PACKAGED_DIR",
    "Registry",
    "RenderedPrompt",
    "Template",
    "TemplateError",
    "TemplateLoadError",
    "TemplateNotFound",
    "TemplateRenderError",
    "TemplateVariableError",
    "fence",
    "load_template",
    "neutralise",
    "parse_ref",
]
