"""``crm-copilot import``: a file → batches → the upserter, one transaction per batch.

Memory stays bounded whatever the file's size: rows stream from the reader, one batch is held at a time,
and across batches only an 8-byte digest and a row number per external id are kept (to catch a duplicate in
two batches of one file). A batch with any bad row writes nothing; the report names every bad row
(row number, column, value, why), so fixing those rows and running the same import again writes exactly
the rows that are still missing (the others come back "unchanged").
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from copilot.crm.permissions import rebuild_visibility, visibility_trusted
from copilot.sync.mapping import ObjectMapping, load_mapping
from copilot.sync.objects import canonical_type
from copilot.sync.readers import SourceRow, header_of, read_rows
from copilot.sync.upsert import Item, Outcome, References, RowError, Upserter

BATCH_SIZE = 2000
MAX_REPORTED_ERRORS = 1000

Converter = Callable[[Iterator[SourceRow]], Iterator[SourceRow]]


@dataclass
class ImportReport:
    object_type: str
    path: str
    mapping: str
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    not_written: int = 0  # rows of failed batches (good rows included: nothing of such a batch is written)
    failed_batches: int = 0
    batches: int = 0
    file_errors: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.file_errors and self.error_count == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "object_type": self.object_type, "path": self.path, "mapping": self.mapping, "dry_run": self.dry_run,
            "rows": self.rows, "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
            "not_written": self.not_written, "batches": self.batches, "failed_batches": self.failed_batches,
            "file_errors": self.file_errors, "error_count": self.error_count,
            "errors": [e.to_dict() for e in self.errors], "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows / self.seconds, 1) if self.seconds else None,
        }

    def add_errors(self, errors: list[RowError]) -> None:
        self.error_count += len(errors)
        room = MAX_REPORTED_ERRORS - len(self.errors)
        if room > 0:
            self.errors.extend(errors[:room])


def _converter(name: str) -> Converter:
    if name == "wecom-archive":
        from copilot.sync.wecom import conversations

        return conversations
    raise ValueError(f"unknown converter {name!r}")


def object_mapping(object_type: str, mapping: str | None) -> tuple[ObjectMapping, str]:
    loaded = load_mapping(mapping)
    if loaded is None:
        return ObjectMapping(canonical_type(object_type)), "fields"
    return loaded.for_object(object_type), loaded.name


def run_import(
    sessions: sessionmaker[Session],
    path: Path,
    object_type: str,
    *,
    mapping: str | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    allow_ids: bool = False,
) -> ImportReport:
    """Import one file, one transaction per batch (a failed batch writes nothing; the others are kept)."""
    started = time.perf_counter()
    omap, mapping_name = object_mapping(object_type, mapping)
    report = ImportReport(omap.object_type, str(path), mapping_name, dry_run)
    report.file_errors = omap.check_header(header_of(path)) if omap.converter is None else []
    if report.file_errors:
        return report
    upserter = Upserter(omap.object_type, allow_ids=allow_ids, references=References())
    with sessions() as session:
        closure_was_trusted = visibility_trusted(session.connection())
    for batch, pre_errors in batches(path, omap, report, batch_size):
        _flush(sessions, upserter, batch, pre_errors, report, dry_run)
        if progress:
            progress(report.rows)
    if closure_was_trusted:
        # Bulk writes to deals, teams or the org chart turn the managers' visibility closure off (it cannot
        # tell which rows changed); one rebuild after the whole file puts their fast pages back.
        with sessions.begin() as session:
            if not visibility_trusted(session.connection()):
                rebuild_visibility(session.connection())
    report.seconds = time.perf_counter() - started
    return report


def import_in_session(session: Session, path: Path, object_type: str, *, mapping: str | None = None,
                      batch_size: int = BATCH_SIZE, allow_ids: bool = False) -> ImportReport:
    """Import one file inside the caller's transaction (the demo's one unit of work): the same readers,
    mapping and upserter as ``run_import``; the caller rolls back when the report is not ok."""
    started = time.perf_counter()
    omap, mapping_name = object_mapping(object_type, mapping)
    report = ImportReport(omap.object_type, str(path), mapping_name)
    report.file_errors = omap.check_header(header_of(path)) if omap.converter is None else []
    if report.file_errors:
        return report
    upserter = Upserter(omap.object_type, allow_ids=allow_ids, references=References())
    for batch, pre_errors in batches(path, omap, report, batch_size):
        outcome = upserter.apply(session, batch, dry_run=bool(pre_errors))
        errors = pre_errors + outcome.errors
        report.batches += 1
        if errors:
            report.failed_batches += 1
            report.not_written += len(batch) + len(pre_errors)
            report.add_errors(errors)
            break
        report.created += outcome.created
        report.updated += outcome.updated
        report.unchanged += outcome.unchanged
    report.seconds = time.perf_counter() - started
    return report


class SeenIds:
    """External ids of earlier batches, as sorted 8-byte digests with their rows (12 bytes an id: ~12 MB for a
    million rows), so a duplicate in a later batch is caught and names the row it repeats."""

    def __init__(self) -> None:
        self.digests = np.empty(0, dtype=np.uint64)
        self.rows = np.empty(0, dtype=np.uint32)

    @staticmethod
    def digest(external_id: str) -> int:
        return int.from_bytes(hashlib.blake2b(external_id.strip().encode(), digest_size=8).digest(), "big")

    def earlier(self, digests: np.ndarray) -> list[int | None]:
        """For each digest: the row where an earlier batch had it, or None."""
        at = np.searchsorted(self.digests, digests)
        hit = (at < len(self.digests)) & (self.digests[np.minimum(at, len(self.digests) - 1)] == digests) \
            if len(self.digests) else np.zeros(len(digests), dtype=bool)
        return [int(self.rows[a]) if h else None for a, h in zip(at.tolist(), hit.tolist(), strict=True)]

    def add(self, digests: np.ndarray, rows: np.ndarray) -> None:
        order = np.argsort(digests, kind="stable")
        digests, rows = digests[order], rows[order]
        at = np.searchsorted(self.digests, digests)
        self.digests = np.insert(self.digests, at, digests)
        self.rows = np.insert(self.rows, at, rows)


def batches(path: Path, omap: ObjectMapping, report: ImportReport,
            batch_size: int) -> Iterator[tuple[list[Item], list[RowError]]]:
    """The file's rows as batches of items, with the rows already known bad (unreadable, a value-map miss,
    an external id seen in an earlier batch) alongside: a batch with any of those writes nothing."""
    rows: Iterator[SourceRow] = read_rows(path)
    if omap.converter:
        rows = _converter(omap.converter)(rows)
    seen = SeenIds()
    batch: list[Item] = []
    pre_errors: list[RowError] = []

    def finish() -> tuple[list[Item], list[RowError]]:
        keyed = [(item, str(item.values["external_id"])) for item in batch
                 if item.values.get("external_id") not in (None, "")]
        digests = np.array([SeenIds.digest(ext) for _, ext in keyed], dtype=np.uint64)
        dropped: set[int] = set()
        for (item, ext), first in zip(keyed, seen.earlier(digests), strict=True):
            if first is not None:
                dropped.add(id(item))
                pre_errors.append(RowError(item.row, item.column("external_id"), ext,
                                           f"duplicate external_id (also at row {first})", ext))
        seen.add(digests, np.array([item.row or 0 for item, _ in keyed], dtype=np.uint32))
        return [i for i in batch if id(i) not in dropped], sorted(pre_errors, key=lambda e: e.row or 0)

    for source in rows:
        report.rows += 1
        if source.values is None:
            pre_errors.append(RowError(source.row, None, None, source.error or "unreadable row"))
            continue
        item, errors = omap.to_item(source.row, source.values)
        pre_errors.extend(errors)
        if not errors:
            batch.append(item)
        if len(batch) + len(pre_errors) >= batch_size:
            yield finish()
            batch, pre_errors = [], []
    if batch or pre_errors:
        yield finish()


def _flush(sessions: sessionmaker[Session], upserter: Upserter, batch: list[Item], pre_errors: list[RowError],
           report: ImportReport, dry_run: bool) -> None:
    report.batches += 1
    with sessions() as session:
        session.begin()
        # Validate the whole batch even when it already has a bad row, so one run reports every problem.
        outcome: Outcome = upserter.apply(session, batch, dry_run=dry_run or bool(pre_errors))
        errors = sorted(pre_errors + outcome.errors, key=lambda e: (e.row or 0))
        if errors:
            session.rollback()
            upserter.refs.forget(upserter.spec.table)  # ids it may have cached from the rolled-back rows
            report.failed_batches += 1
            report.not_written += len(batch) + len(pre_errors)
            report.add_errors(errors)
            return
        if dry_run:
            session.rollback()
        else:
            session.commit()
    report.created += outcome.created
    report.updated += outcome.updated
    report.unchanged += outcome.unchanged
