"""Errors of the template registry.

``prompts`` imports nothing of ours (design.md), so these do not derive from ``copilot.core.errors``;
they carry ``status_code``/``code`` so the API and CLI can report them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence


class TemplateError(Exception):
    status_code = 400
    code = "template_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TemplateLoadError(TemplateError):
    """A template file that cannot be used: bad YAML, unknown key, undeclared or unsafe variable."""

    status_code = 500
    code = "template_invalid"


class TemplateNotFound(TemplateError):
    status_code = 404
    code = "template_not_found"


class TemplateVariableError(TemplateError):
    """Variables missing or of the wrong type: one error naming every offender."""

    status_code = 422
    code = "template_variables"

    def __init__(self, ref: str, *, missing: Sequence[str] = (), wrong_type: Sequence[str] = ()) -> None:
        self.missing = list(missing)
        self.wrong_type = list(wrong_type)
        parts = []
        if self.missing:
            parts.append("missing variables: " + ", ".join(self.missing))
        if self.wrong_type:
            parts.append("wrong types: " + "; ".join(self.wrong_type))
        super().__init__(f"{ref}: " + " | ".join(parts))


class TemplateRenderError(TemplateError):
    """The sandbox refused something, or a part failed while rendering."""

    status_code = 422
    code = "template_render"


class TemplateTooLarge(TemplateRenderError):
    """The variables would render a prompt over the caller's size limit (a 309-byte request must not
    become a 13 MB answer): stopped while rendering, not after."""

    code = "render_too_large"
