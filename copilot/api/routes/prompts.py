"""The template registry over HTTP: list, describe, and render without calling a model.

Rendering with ``context`` fills the template from a real record's facts, as the skill would; the
record must be visible to the caller (404 otherwise, like everywhere else). Templates are internal
material (system prompts, grounding rules), so partner users are refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from copilot.api.deps import PrincipalDep, RuntimeDep, SessionDep
from copilot.api.errors import error_response
from copilot.core.bounds import check_integers
from copilot.core.errors import Forbidden, Unprocessable
from copilot.crm.permissions import get_visible, may_read_prompts, may_render_prompt
from copilot.crm.principal import Principal
from copilot.service.preview import render_for_record
from skills.base import PageContext

if TYPE_CHECKING:
    from copilot.service.runtime import Runtime
    from prompts import Registry

router = APIRouter(prefix="/v1/prompts", tags=["prompts"])


class RenderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str | int | None = Field(default=None, description="a version like 1 or 1.2.0; latest if absent")
    variables: dict[str, Any] = Field(default_factory=dict)
    context: PageContext | None = None
    locale: Literal["zh", "en"] | None = None


def registry(runtime: Runtime) -> Registry:
    """The runtime's registry (a deployment's own prompts_dir included)."""
    return runtime.prompts


def _employees_only(principal: Principal) -> None:
    if not may_read_prompts(principal):  # the policy decides (copilot.crm.permissions)
        raise Forbidden("prompt templates are internal; partner accounts cannot read them")


@router.get("")
def list_prompts(principal: PrincipalDep, runtime: RuntimeDep) -> dict[str, Any]:
    _employees_only(principal)
    return {"prompts": registry(runtime).list()}


@router.get("/{template_id}")
def get_prompt(template_id: str, principal: PrincipalDep, runtime: RuntimeDep) -> Any:
    _employees_only(principal)
    from prompts import TemplateError

    reg = registry(runtime)
    try:
        versions = reg.versions(template_id)
        described = [_public(t.describe()) for v in versions for t in _locales(reg, template_id, v)]
    except TemplateError as exc:
        return _template_error(exc)
    latest = versions[-1]
    return {
        "id": template_id,
        "versions": versions,
        "latest": latest,
        "locales": sorted({d["locale"] for d in described}),
        "variables": next(d["variables"] for d in described if d["version"] == latest),
        "templates": described,
    }


@router.post("/{template_id}/render")
def render_prompt(
    template_id: str, body: RenderRequest, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep
) -> Any:
    _employees_only(principal)
    _may_render(principal, runtime, template_id)
    from prompts import TemplateError
    from prompts.schema import normalise_version

    reg = registry(runtime)
    locale = body.locale or (principal.locale if principal.locale in ("zh", "en") else "zh")
    try:
        version = None if body.version is None else normalise_version(body.version)
    except ValueError as exc:
        return error_response(422, "invalid_request", f"version: {exc}")
    try:
        template = reg.get(template_id, version, locale)  # 404 for an unknown id before touching records
        if body.context is None:
            _check_variables(runtime, template.spec.skill, body.variables)
            # The caller's variables drive the loops of a template: the output is bounded while rendering.
            return template.render(body.variables, max_chars=runtime.settings.max_render_chars).to_dict()
        if body.variables:
            # With a record the skill gathers every variable itself; silently ignoring the caller's would mislead.
            return error_response(422, "invalid_request", "pass either variables or context, not both")
        # Visible or 404, before any fact is gathered: the answer must not confirm the record exists.
        get_visible(session, principal, body.context.object_type, body.context.object_id)
        # Assistant.turn in render-only mode: the same checks as an answer, and its audit row.
        rendered = render_for_record(
            runtime.assistant,
            session,
            principal,
            template_id,
            template.version,
            body.context.object_type,
            body.context.object_id,
            "en" if template.locale == "en" else "zh",
        )
        session.commit()
        return rendered.to_dict()
    except TemplateError as exc:
        return _template_error(exc)


def _may_render(principal: Principal, runtime: Runtime, template_id: str) -> None:
    # Rendering is the skill run without the model: it needs the roles one of the template's skills needs.
    needs = [s.required_roles for s in runtime.assistant.specs.values() if s.template == template_id] or [[]]
    if not any(may_render_prompt(principal, roles) for roles in needs):
        roles = sorted({r for group in needs for r in group})
        raise Forbidden(f"rendering {template_id!r} needs one of the roles {', '.join(roles)}")


def _check_variables(runtime: Runtime, skill: str | None, variables: dict[str, Any]) -> None:
    """A number that is also one of the skill's inputs takes the skill's range (``variants`` at most 5,
    not 100000: numbers drive a template's loops); and no integer anywhere is past 64 bits. Text stays
    free, so a preview may show sample values."""
    import jsonschema

    check_integers(variables, "variables")
    spec = runtime.assistant.specs.get(skill) if skill else None
    declared = spec.input_schema.get("properties", {}) if spec is not None else {}
    for name, value in variables.items():
        if name in declared and declared[name].get("type") in ("integer", "number"):
            try:
                jsonschema.validate(value, declared[name])
            except jsonschema.ValidationError as exc:
                raise Unprocessable(f"variables.{name}: {exc.message}", code="invalid_request") from None


def _locales(reg: Registry, template_id: str, version: str) -> list[Any]:
    found = {reg.get(template_id, version, loc) for loc in ("zh", "en")}
    return sorted(found, key=lambda t: t.locale)


def _public(described: dict[str, Any]) -> dict[str, Any]:
    # The file path says where the server is installed: nothing a client needs.
    return {k: v for k, v in described.items() if k != "path"}


def _template_error(exc: Exception) -> JSONResponse:
    status = int(getattr(exc, "status_code", 400))
    code = str(getattr(exc, "code", "template_error"))
    extra: dict[str, Any] = {}
    if getattr(exc, "missing", None):
        extra["missing"] = list(exc.missing)  # type: ignore[attr-defined]
    if getattr(exc, "wrong_type", None):
        extra["wrong_type"] = list(exc.wrong_type)  # type: ignore[attr-defined]
    # A broken template file on the server is our fault, but reported without a stack trace.
    return error_response(status if status < 500 else 503, code, str(getattr(exc, "message", exc)), **extra)
