"""Load, check and render versioned prompt templates.

Layout: ``<root>/<template id>/v<version>.<locale>.yaml`` (for example ``record_qa/v1.zh.yaml``). The
packaged root is ``prompts/templates``; a deployment's ``prompts_dir`` is read after it, so its files
add new ids or versions, or replace a packaged (id, version, locale) outright.

Everything that can be checked without data is checked at load: the closed schema, file name against
header, every variable a part uses is declared, no underscore attribute access (sandbox escapes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError

from prompts.errors import (
    TemplateError,
    TemplateLoadError,
    TemplateNotFound,
    TemplateRenderError,
    TemplateTooLarge,
    TemplateVariableError,
)
from prompts.fencing import fence
from prompts.schema import LOCALES, TemplateSpec, VariableSpec, normalise_version, version_key

PACKAGED_DIR = Path(__file__).parent / "templates"
PARTS = ("system", "user", "offline")


def _make_env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False
    )
    env.filters["fence"] = fence
    return env


_ENV = _make_env()

_TYPE_CHECKS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (Mapping,),
}


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "object":
        return True
    if isinstance(value, bool) and kind in ("int", "float"):
        return False  # True is an int to Python, never to a template author
    return isinstance(value, _TYPE_CHECKS[kind])


@dataclass(frozen=True)
class RenderedPrompt:
    """What a provider needs, plus what the audit log and the API report about the template."""

    id: str
    version: str
    locale: str
    hash: str
    messages: list[dict[str, str]]
    offline_text: str
    skill: str | None = None
    output_schema: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "ref": self.ref,
            "locale": self.locale,
            "hash": self.hash,
            "skill": self.skill,
            "messages": self.messages,
            "offline": self.offline_text,
            "output_schema": self.output_schema,
            "options": self.options,
        }


def _unsafe_attributes(ast: nodes.Template) -> list[str]:
    found = [n.attr for n in ast.find_all(nodes.Getattr) if n.attr.startswith("_")]
    found += [
        str(n.arg.value)
        for n in ast.find_all(nodes.Getitem)
        if isinstance(n.arg, nodes.Const) and isinstance(n.arg.value, str) and n.arg.value.startswith("_")
    ]
    return found


def _render_part(compiled: Any, bound: Mapping[str, Any], budget: list[int] | None, where: str) -> str:
    """Render one part; with a budget, piece by piece, stopping as soon as the budget is spent."""
    if budget is None:
        return str(compiled.render(bound))
    pieces: list[str] = []
    for piece in compiled.generate(bound):
        budget[0] -= len(piece)
        if budget[0] < 0:
            raise TemplateTooLarge(f"{where}: the rendered prompt would be over the size limit; use smaller variables")
        pieces.append(piece)
    return "".join(pieces)


class Template:
    """One (id, version, locale): validated at construction, rendered in the sandbox."""

    def __init__(self, spec: TemplateSpec, source: str, path: Path | str) -> None:
        self.spec = spec
        self.source = source
        self.path = str(path)
        self.hash = hashlib.sha256(source.encode("utf-8")).hexdigest()
        self._compiled = {}
        declared = set(spec.variables)
        for part in PARTS:
            text = getattr(spec, part)
            try:
                ast = _ENV.parse(text)
            except TemplateSyntaxError as exc:
                raise TemplateLoadError(
                    f"{self.path}: Jinja2 syntax error in '{part}' line {exc.lineno}: {exc.message}"
                ) from None
            unsafe = _unsafe_attributes(ast)
            if unsafe:
                raise TemplateLoadError(
                    f"{self.path}: unsafe attribute access in '{part}': {', '.join(sorted(set(unsafe)))} "
                    "(underscore attributes are refused by the sandbox)"
                )
            undeclared = meta.find_undeclared_variables(ast) - declared - set(_ENV.globals)
            if undeclared:
                raise TemplateLoadError(
                    f"{self.path}: undeclared variable(s) in '{part}': {', '.join(sorted(undeclared))} "
                    "(declare them under 'variables:')"
                )
            self._compiled[part] = _ENV.from_string(ast)  # compile the checked AST: no second parse

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def locale(self) -> str:
        return self.spec.locale

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    @property
    def variables(self) -> dict[str, VariableSpec]:
        return dict(self.spec.variables)

    def bind(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """Declared variables with defaults applied; every missing or mistyped one reported at once."""
        missing, wrong, bound = [], [], {}
        for name, var in self.spec.variables.items():
            if name not in variables or variables[name] is None:
                if var.required:
                    missing.append(name)
                else:
                    bound[name] = var.default
                continue
            value = variables[name]
            if not _type_ok(var.type, value):
                wrong.append(f"{name} should be {var.type}, got {type(value).__name__}")
            bound[name] = value
        if missing or wrong:
            raise TemplateVariableError(self.ref, missing=missing, wrong_type=wrong)
        return bound

    def render(self, variables: Mapping[str, Any], *, max_chars: int | None = None) -> RenderedPrompt:
        """``max_chars``: refuse (TemplateTooLarge) once the parts together pass it, while rendering."""
        bound = self.bind(variables)
        out: dict[str, str] = {}
        budget = [max_chars] if max_chars is not None else None
        for part, compiled in self._compiled.items():
            try:
                out[part] = _render_part(compiled, bound, budget, f"{self.ref} '{part}'").strip()
            except SecurityError as exc:
                raise TemplateRenderError(f"{self.ref} ({self.path}) '{part}': sandbox refused: {exc}") from None
            except UndefinedError as exc:
                raise TemplateRenderError(f"{self.ref} ({self.path}) '{part}': {exc.message}") from None
            except TemplateError:
                raise
            except Exception as exc:  # a filter choking on a value: still the template's error, named
                raise TemplateRenderError(f"{self.ref} ({self.path}) '{part}': {type(exc).__name__}: {exc}") from None
        messages = [{"role": "system", "content": out["system"]}, {"role": "user", "content": out["user"]}]
        options = self.spec.options.model_dump(exclude_none=True)
        return RenderedPrompt(
            id=self.id,
            version=self.version,
            locale=self.locale,
            hash=self.hash,
            messages=messages,
            offline_text=out["offline"],
            skill=self.spec.skill,
            output_schema=self.spec.output_schema,
            options=options,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "locale": self.locale,
            "hash": self.hash,
            "path": self.path,
            "description": self.spec.description,
            "skill": self.spec.skill,
            "variables": {k: v.model_dump() for k, v in self.spec.variables.items()},
            "output_schema": self.spec.output_schema,
            "options": self.spec.options.model_dump(exclude_none=True),
        }


def _format_validation(exc: ValidationError) -> str:
    msgs = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            msgs.append(f"unknown key '{loc}'")
        elif err["type"] == "missing":
            msgs.append(f"missing key '{loc}'")
        else:
            msgs.append(f"'{loc}': {err['msg']}")
    return "; ".join(msgs)


def _split_name(path: Path) -> tuple[str, str]:
    """``v1.2.0.zh.yaml`` → ("1.2.0", "zh")."""
    stem = path.name[: -len(path.suffix)]
    version, _, locale = stem.rpartition(".")
    if not version or locale not in LOCALES:
        raise TemplateLoadError(f"{path}: file name must be v<version>.<locale>.yaml with locale in {LOCALES}")
    try:
        return normalise_version(version), locale
    except ValueError as exc:
        raise TemplateLoadError(f"{path}: {exc}") from None


_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_template(path: Path) -> Template:
    """Load and check one file. Cached by (path, mtime, size): runtimes and tests reload registries often,
    and a Template is never mutated after construction."""
    stat = path.stat()
    return _load_template(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1024)
def _load_template(resolved: str, _mtime_ns: int, _size: int) -> Template:
    path = Path(resolved)
    source = path.read_text(encoding="utf-8")
    try:
        data = yaml.load(source, Loader=_YamlLoader)  # a safe loader: no Python objects from YAML
    except yaml.YAMLError as exc:
        raise TemplateLoadError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateLoadError(f"{path}: expected a mapping of keys at the top level")
    try:
        spec = TemplateSpec.model_validate(data)
    except ValidationError as exc:
        raise TemplateLoadError(f"{path}: {_format_validation(exc)}") from None
    version, locale = _split_name(path)
    if spec.id != path.parent.name or spec.version != version or spec.locale != locale:
        raise TemplateLoadError(
            f"{path}: header says {spec.id}@{spec.version} ({spec.locale}) but the path says "
            f"{path.parent.name}@{version} ({locale})"
        )
    return Template(spec, source, path)


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``record_qa`` → (record_qa, None); ``record_qa@1`` / ``record_qa@v1`` → (record_qa, "1")."""
    tid, sep, version = ref.partition("@")
    if not sep:
        return tid, None
    try:
        return tid, normalise_version(version)
    except ValueError as exc:
        raise TemplateNotFound(f"{ref}: {exc}") from None


class Registry:
    """Every template found under the given roots; later roots override earlier ones."""

    def __init__(self, roots: Sequence[Path | str] = (PACKAGED_DIR,)) -> None:
        self.roots = [Path(r) for r in roots]
        self._templates: dict[str, dict[str, dict[str, Template]]] = {}
        for root in self.roots:
            if not root.is_dir():
                raise TemplateLoadError(f"{root}: prompts directory does not exist")
            for path in sorted(root.glob("*/*.yaml")):
                t = load_template(path)
                self._templates.setdefault(t.id, {}).setdefault(t.version, {})[t.locale] = t

    @classmethod
    def load(cls, extra_dir: Path | str | None = None) -> Registry:
        """The packaged templates, plus a deployment's own folder (settings.prompts_dir) when given."""
        roots: list[Path | str] = [PACKAGED_DIR]
        if extra_dir is not None:
            roots.append(extra_dir)
        return cls(roots)

    def ids(self) -> list[str]:
        return sorted(self._templates)

    def versions(self, template_id: str) -> list[str]:
        if template_id not in self._templates:
            raise TemplateNotFound(f"unknown template {template_id!r} (known: {', '.join(self.ids())})")
        return sorted(self._templates[template_id], key=version_key)

    def get(self, template_id: str, version: str | int | None = None, locale: str = "zh") -> Template:
        """``version=None`` is the latest; a missing locale falls back to the other one."""
        if version is None and "@" in template_id:
            template_id, version = parse_ref(template_id)
        versions = self.versions(template_id)
        if version is None:
            v = versions[-1]
        else:
            v = normalise_version(version)
            if v not in self._templates[template_id]:
                raise TemplateNotFound(f"{template_id} has no version {v} (known: {', '.join(versions)})")
        by_locale = self._templates[template_id][v]
        if locale in by_locale:
            return by_locale[locale]
        for other in LOCALES:
            if other in by_locale:
                return by_locale[other]
        raise TemplateNotFound(f"{template_id}@{v} has no locale")  # unreachable: a version has a file

    def render(
        self,
        template_id: str,
        variables: Mapping[str, Any],
        *,
        version: str | int | None = None,
        locale: str = "zh",
    ) -> RenderedPrompt:
        return self.get(template_id, version, locale).render(variables)

    def list(self) -> list[dict[str, Any]]:
        """One entry per id: versions, locales, the latest's description and declared variables."""
        out = []
        for tid in self.ids():
            versions = self.versions(tid)
            latest = self.get(tid, versions[-1])
            out.append(
                {
                    "id": tid,
                    "versions": versions,
                    "latest": versions[-1],
                    "locales": sorted({loc for v in versions for loc in self._templates[tid][v]}),
                    "skill": latest.spec.skill,
                    "description": latest.spec.description,
                    "variables": {k: v.type for k, v in latest.spec.variables.items()},
                }
            )
        return out

    def __iter__(self) -> Iterable[Template]:  # type: ignore[override]
        for tid in self.ids():
            for v in self.versions(tid):
                yield from self._templates[tid][v].values()
