"""The one case schema of every evaluation dataset (eval/datasets/*.yaml), in the style of promptfoo.

A dataset file::

    schema: crm-copilot-eval/1
    suite: record_qa            # the suite that runs it (eval/runner.py SUITES)
    skill: record_qa            # the skill its cases name at the door (absent: routed)
    gates: {facts: {min: 0.9}}  # metric → bound, per set (the file's stem is the metric prefix)
    cases:
      - id: rqa-stage-zh-1
        vars: {persona: rep_east_1, page: "opportunity:1", message: 这个商机现在到哪个阶段了}
        assert:
          - {type: facts, must_include: [商务谈判]}
          - {type: citations, ids: ["crm:opportunity:1"]}

``vars`` is what the user brings (who they are, the page open, what they type, the conversation so far,
the form inputs); ``assert`` is what a reviewer checks, each assertion typed and closed. Every model is
``extra="forbid"``: a misspelt key is a load error naming the file, the line and the case id, never a
silently ignored check. Files in the old dialects are refused with the converter's command line
(``python -m eval.migrate_cases FILE``); they are read only through that converter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SCHEMA = "crm-copilot-eval/1"
DATASETS = Path(__file__).parent / "datasets"
PAGE_PATTERN = r"^[a-z_]+(:[0-9]+)?$"
_EVERY: ContextVar[int] = ContextVar("eval_sample_every", default=1)


@contextmanager
def sampling(every: int) -> Iterator[None]:
    """Within: every dataset loads only every ``every``-th case (the quick gated subset of ``make test``
    and ``eval run --quick``); the gates are the same, on fewer cases."""
    token = _EVERY.set(max(1, every))
    try:
        yield
    finally:
        _EVERY.reset(token)


def sample_every() -> int:
    return _EVERY.get()


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Turn(Closed):
    """One message said earlier in the conversation (the case's own message is the last one)."""

    message: str
    page: str | None = Field(None, pattern=PAGE_PATTERN)
    inputs: dict[str, Any] = Field(default_factory=dict)
    skill: str | None = None  # the skill named at the door for this turn (absent: routed)


class Vars(Closed):
    persona: str | None = None  # a demo username: the signed-in asker
    role: str | None = None  # router cases only: an asker known by one role (absent: admin)
    page: str | None = Field(None, pattern=PAGE_PATTERN)  # "ticket:8"; the router's cases give a type only
    message: str = ""
    conversation: list[Turn] = Field(default_factory=list)
    inputs: dict[str, Any] = Field(default_factory=dict)
    locale: Literal["zh", "en"] | None = None
    lang: Literal["zh", "en", "mixed"] | None = None  # the request's language, for per-language metrics


class Base(Closed):
    threshold: float = Field(1.0, ge=0.0, le=1.0)  # the score at which this assertion passes


class SkillIs(Base):
    type: Literal["skill"]
    value: str  # a skill name, or "clarify"


class Refused(Base):
    type: Literal["refused"]
    code: Literal["forbidden", "not_found", "bad_request", "unprocessable"]


class Facts(Base):
    """Strings the user must (and must not) read. ``where``: the whole answer with its structured copy
    (``outputs``), the customer-facing text only (``customer_text``: the draft or the copy), or the notes
    to the user around it (``notes``)."""

    type: Literal["facts"]
    must_include: list[str] = Field(default_factory=list)
    must_not_include: list[str] = Field(default_factory=list)
    where: Literal["outputs", "answer", "customer_text", "notes", "answer_or_customer_text"] = "outputs"
    ignore_case: bool = False

    @field_validator("must_include", "must_not_include", mode="before")
    @classmethod
    def _strings(cls, v: Any) -> Any:
        return [str(x) for x in v] if isinstance(v, list) else v


class Citations(Base):
    type: Literal["citations"]
    ids: list[str]  # crm:<type>:<id> or doc:<kb doc id>


class RetrievedIds(Base):
    """Retrieval: a labelled relevant doc within the top ``k`` (the first id is the best answer)."""

    type: Literal["retrieved_ids"]
    ids: list[str] = Field(min_length=1)
    k: int = 5


class TopAction(Base):
    type: Literal["top_action"]
    kind: str | None  # null: no action must be proposed
    evidence: list[str] = Field(default_factory=list)
    facts: dict[str, Any] = Field(default_factory=dict)  # values the top signal must carry


class Filters(Base):
    """ticket_lookup: the parsed filters, exactly (``account_names`` resolved to ids by exact name)."""

    type: Literal["filters"]
    value: dict[str, Any]
    not_understood: list[str] | None = None


class RecordSet(Base):
    """Exactly the records this hand-written SQL returns (``data.rows`` ids and ``data.total``)."""

    type: Literal["record_set"]
    sql: str
    object_type: str | None = None


class Record(Base):
    """Conversation: the record the answer is about (as stored with the turn); ``option``: the record of
    option N the previous answer offered."""

    type: Literal["record"]
    value: str | None = Field(None, pattern=PAGE_PATTERN)
    option: int | None = None


class Method(Base):
    type: Literal["method"]
    value: str | None = None  # followup | choice
    not_: str | None = Field(None, alias="not")


class InputsKept(Base):
    type: Literal["inputs_kept"]
    value: dict[str, Any]


class Language(Base):
    type: Literal["language"]
    value: Literal["zh", "en"]


class Count(Base):
    type: Literal["count"]
    value: int = Field(ge=1)
    part: Literal["subject", "headline"] | None = None


class Length(Base):
    """Every variant's main text (or the draft) within ``max_chars``, every character counted;
    ``channel``: only that channel's variants."""

    type: Literal["length"]
    max_chars: int = Field(ge=1)
    channel: str | None = None


class Channel(Base):
    type: Literal["channel"]
    values: list[str] = Field(min_length=1)


class NeedsChoice(Base):
    type: Literal["needs_choice"]
    min_options: int = Field(2, ge=1)


class Grounded(Base):
    """No date, time, amount or promise beyond this record and what the user stated (the promise guard)."""

    type: Literal["grounded"]
    record: str = Field(pattern=r"^ticket:[0-9]+$")


class NoBannedTerm(Base):
    type: Literal["no_banned_term"]


class NoLeak(Base):
    """Nothing the asker may not see: no value of a field hidden from them (``values`` lists known ones;
    the check also reads every hidden field of every record the answer refers to), no citation or row of
    a record they cannot read, no document outside their visibility (``docs``), no planted secret."""

    type: Literal["no_leak"]
    values: list[str] = Field(default_factory=list)
    docs: list[str] = Field(default_factory=list)
    refusal_ok: bool = False  # a refusal (403/404) passes: it showed nothing

    @field_validator("values", mode="before")
    @classmethod
    def _strings(cls, v: Any) -> Any:
        return [str(x) for x in v] if isinstance(v, list) else v


Assertion = Annotated[
    SkillIs
    | Refused
    | Facts
    | Citations
    | RetrievedIds
    | TopAction
    | Filters
    | RecordSet
    | Record
    | Method
    | InputsKept
    | Language
    | Count
    | Length
    | Channel
    | NeedsChoice
    | Grounded
    | NoBannedTerm
    | NoLeak,
    Field(discriminator="type"),
]


class Review(Closed):
    """What a draft case came from (``crm-copilot eval from-feedback``): the user's thumbs-down, the answer
    they got and what it was built from. A reviewer turns it into assertions, then deletes this block."""

    trace_id: str
    rating: str = "down"
    comment: str | None = None
    answer: str = ""
    skill: str | None = None
    template: str | None = None
    retrieved: list[str] = Field(default_factory=list)  # cited documents and records
    rated_at: str | None = None


class Case(Closed):
    id: str = Field(min_length=1)
    description: str | None = None  # the reviewer's reading: why this is the expected answer
    review: Review | None = None  # a draft from feedback, not yet reviewed
    vars: Vars
    assertions: list[Assertion] = Field(default_factory=list, alias="assert")
    tags: list[str] = Field(default_factory=list)
    # Written with the rest but kept out of any tuning: the suite reports these cases on their own too.
    holdout: bool = False
    line: int = Field(0, exclude=True)  # where the case starts in its file (for errors and reports)

    def of(self, kind: type[Any]) -> list[Any]:
        return [a for a in self.assertions if isinstance(a, kind)]

    def first(self, kind: type[Any]) -> Any:
        found = self.of(kind)
        return found[0] if found else None


class Bound(Closed):
    min: float | None = None
    max: float | None = None


class Dataset(Closed):
    schema_: Literal["crm-copilot-eval/1"] = Field(alias="schema")
    suite: str
    skill: str | None = None  # the skill every case names at the door (absent: routed, or per turn)
    description: str | None = None
    runs: list[Literal["named", "routed"]] = Field(default_factory=lambda: ["named"])  # type: ignore[arg-type]
    gates: dict[str, Bound] = Field(default_factory=dict)
    advisory: bool = False  # metrics reported, no gate
    # Eval-only documents (a folder next to the dataset) this set searches, with the demo corpus, in a
    # temporary index of its own, never the demo's (the retrieval suite's mixed knowledge base).
    corpus: str | None = None
    cases: list[Case]
    path: Path = Field(Path(), exclude=True)

    @property
    def name(self) -> str:
        return self.path.stem

    @model_validator(mode="after")
    def _unique_ids(self) -> Dataset:
        seen: set[str] = set()
        for c in self.cases:
            if c.id in seen:
                raise ValueError(f"case id {c.id!r} (line {c.line}) is used twice")
            seen.add(c.id)
        return self


class CaseError(ValueError):
    """A dataset that does not load: the file, the line and the case, and what is wrong."""


class _LineLoader(yaml.SafeLoader):
    """A safe YAML loader that remembers the line each mapping starts on (``__line__``)."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    data: dict[str, Any] = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    data["__line__"] = node.start_mark.line + 1
    return data


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _line_of(item: Any, loc: tuple[Any, ...]) -> int:
    """The line of the innermost mapping on the error's path (the misspelt assertion, not just its case)."""
    line = item.get("__line__", 0) if isinstance(item, dict) else 0
    node: Any = item
    for part in loc:
        key = "assert" if part == "assertions" else part
        if (isinstance(node, dict) and key in node) or (
            isinstance(node, list) and isinstance(key, int) and key < len(node)
        ):
            node = node[key]  # type: ignore[index]
        else:
            continue  # a discriminator tag in the path ("facts"): not a key of the data
        if isinstance(node, dict):
            line = node.get("__line__", line)
    return int(line)


def read_yaml(path: Path) -> Any:
    """The file as plain data (no line markers)."""
    return _strip_lines(yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader))


def load_dataset(path: Path) -> Dataset:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise CaseError(f"{path}: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        raise CaseError(
            f"{path}: not a {SCHEMA} dataset (old dialect?); convert it with `python -m eval.migrate_cases {path}`"
        )
    cases = []
    for item in raw.get("cases") or []:
        line = item.get("__line__", 0) if isinstance(item, dict) else 0
        cid = item.get("id", "?") if isinstance(item, dict) else "?"
        try:
            case = Case.model_validate(_strip_lines(item))
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
            where = _line_of(item, errors[0]["loc"]) if errors else line
            raise CaseError(f"{path}:{where}: case {cid!r}: {problems}") from None
        case.line = line
        cases.append(case)
    cases = cases[:: sample_every()]
    header = {k: v for k, v in _strip_lines(raw).items() if k != "cases"}
    try:
        return Dataset.model_validate({**header, "cases": cases, "path": path})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
        raise CaseError(f"{path}:{raw.get('__line__', 1)}: {problems}") from None


def datasets(suite: str | None = None, directory: Path = DATASETS) -> list[Dataset]:
    """Every dataset in ``directory`` (all must load), or those of one suite, in file-name order."""
    out = [load_dataset(p) for p in sorted(directory.glob("*.yaml"))]
    return [d for d in out if suite is None or d.suite == suite]


def dataset(name: str, directory: Path = DATASETS) -> Dataset | None:
    path = directory / f"{name}.yaml"
    return load_dataset(path) if path.exists() else None


def dump_dataset(data: dict[str, Any]) -> str:
    """A dataset as YAML text (what the converter and from-feedback write), validated first."""
    Dataset.model_validate({**data, "cases": [Case.model_validate(c) for c in data["cases"]]})
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)
