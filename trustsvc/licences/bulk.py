"""Bulk import of licences that exist already (存量证照电子化): JSON Lines or CSV, one licence
per row, the API's body plus what an old register knows.

A row is the body of ``POST /api/v1/licences`` with, optionally:

* ``department``: the issuing department's USCC (else the one the command or key names);
* ``id``: the licence's original GB/T 36904 identifier: its serial and version are kept (it
  must name this department and the row's type);
* ``issued_on``: the original issue date (``YYYY-MM-DD``) or time (ISO 8601): it is the
  metadata's 颁证日期 and the licence's ``issued_at``;
* ``key``: the row's idempotency key; without one, the key is a digest of the row, so a
  re-run of the same file finds every row it did.

CSV files name nested keys with dots (``holder.name``, ``fields.legal_representative``); an
empty cell is an absent key.

Rows are validated against their type like any request; a bad row is reported (row number,
field, code, message) and never stops the others. Good rows are issued through
:func:`trustsvc.licences.issuing.issue_in_session` in batches of :data:`BATCH` per transaction
(seal signature, status index, audit for each; the MSO and the files are made later, on first
use or by ``trustsvc files make``); on PostgreSQL a batch's licences and audit events go in by
``COPY``, and the catalogue is read once per batch of rows. Each batch commits whole or not at all, and each row's
key is kept with its licence, so an import killed at any point and run again skips what is
done and issues the rest: no duplicates, no holes.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hsm.errors import TrustSvcError

from ..context import TrustService
from ..errors import FieldProblem, InvalidInputError
from ..formats.canonical import canonical_json
from .catalogue import catalogue_of
from .identifier import LicenceIdentifier, parse_identifier
from .issuing import Pending, issue_batch
from .service import (
    _IDEMPOTENCY_KEY,
    CHINA,
    MAX_IDEMPOTENCY_KEY,
    _check_request,
    _region_of,
    _request_hash,
    request_from_json,
)

__all__ = ["BATCH", "IMPORT_KEYS", "RowError", "ImportReport", "read_rows", "import_rows", "prepare_row"]

BATCH = 250
"""Rows per transaction: the commit is amortised, and a crash redoes at most this many."""
IMPORT_KEYS = ("department", "id", "issued_on", "key")
"""Keys a row may carry besides the API body."""


@dataclass(frozen=True)
class RowError:
    """Why one row was not imported."""

    row: int
    """1-based: the line of a JSON Lines file, the data row of a CSV file (the header is row 0)."""
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "code": self.code, "message": self.message}


@dataclass
class ImportReport:
    """What an import did (mutable while it runs; a progress callback reads it)."""

    rows: int = 0
    issued: int = 0
    skipped: int = 0
    """Rows an earlier run (or an earlier row with the same key) imported already."""
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)
    identifiers: list[tuple[int, str, bool]] = field(default_factory=list)
    """(row, identifier, replayed) of each row issued or found done, when asked for."""

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "issued": self.issued, "skipped": self.skipped, "failed": self.failed}


def _nest(flat: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in flat.items():
        if name is None or value is None or value == "":
            continue
        parts = name.strip().split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InvalidInputError(
                    f"column {name!r} clashes with another column", code="invalid_column", field=name
                )
        node[parts[-1]] = value
    return out


def read_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(row number, parsed row) of a ``.jsonl``/``.ndjson`` or ``.csv`` file; a row that does
    not parse is yielded as the :class:`InvalidInputError` saying why."""
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for n, flat in enumerate(csv.DictReader(fh), start=1):
                try:
                    yield n, _nest(flat)
                except InvalidInputError as exc:
                    yield n, exc
        return
    with path.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                yield n, InvalidInputError(f"not a JSON object: {exc}", code="malformed_row")


def count_rows(path: Path) -> int:
    """Data rows in the file (for the progress bar's total): lines, less a CSV's header."""
    with path.open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    return max(0, lines - 1) if path.suffix.lower() == ".csv" else lines


def _issued_at(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(
            "issued_on is a date YYYY-MM-DD or an ISO 8601 time", code="invalid_date", field="issued_on"
        )
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            when = dt.datetime(day.year, day.month, day.day, tzinfo=CHINA)
        else:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            when = when if when.tzinfo else when.replace(tzinfo=CHINA)
    except ValueError as exc:
        raise InvalidInputError(
            f"issued_on is not a date or time: {exc}", code="invalid_date", field="issued_on"
        ) from None
    if not 1949 <= when.year <= dt.datetime.now(CHINA).year or when > dt.datetime.now(dt.UTC):
        raise InvalidInputError("issued_on must lie between 1949 and now", code="invalid_date", field="issued_on")
    return when.astimezone(dt.UTC).replace(microsecond=0)


def prepare_row(
    region_code: str, data: Any, *, department: str | None, actor: str, source: Any, file_label: str = "", row: int = 0
) -> Pending:
    """A row checked and made a :class:`Pending` (its key derived when it has none).

    :raises InvalidInputError: every problem of the row (``problems`` lists them).
    """
    if not isinstance(data, Mapping):
        raise InvalidInputError("a row is a JSON object", code="invalid_request")
    dept = data.get("department", department)
    if not isinstance(dept, str) or not dept.strip():
        raise InvalidInputError(
            "say which department issued the licence (department)", code="department_required", field="department"
        )
    dept = dept.strip().upper()
    body = {k: v for k, v in data.items() if k not in IMPORT_KEYS}
    checked = _check_request(region_code, request_from_json(body), source)
    ident: LicenceIdentifier | None = None
    if data.get("id") is not None:
        try:
            ident = parse_identifier(str(data["id"]))
        except InvalidInputError as exc:
            raise InvalidInputError(f"id: {exc.message}", code=exc.code, field="id") from None
        if ident.issuer_code != dept or ident.type_code != checked.type.code:
            raise InvalidInputError(
                f"id {ident.text} names issuer {ident.issuer_code} and type {ident.type_code}, "
                f"not {dept} and {checked.type.code}",
                code="identifier_mismatch",
                field="id",
            )
    issued_at = _issued_at(data.get("issued_on"))
    digest = _request_hash(dept, checked)
    key = data.get("key")
    if key is None:
        # the row's own content names it: the same row in a re-run is the same licence
        key = (
            "import:"
            + hashlib.sha256(
                canonical_json(
                    {
                        "request": digest,
                        "id": ident.text if ident else None,
                        "issued_at": issued_at.isoformat() if issued_at else None,
                    }
                )
            ).hexdigest()[:40]
        )
    elif not isinstance(key, str) or not _IDEMPOTENCY_KEY.match(key):
        raise InvalidInputError(
            f"key is 1..{MAX_IDEMPOTENCY_KEY} printable ASCII characters", code="invalid_idempotency_key", field="key"
        )
    return Pending(
        checked=checked,
        department_uscc=dept,
        actor=actor,
        request_hash=digest,
        idempotency_key=key,
        identifier=ident,
        issued_at=issued_at,
        make_mso=False,
        audit_details={"import": {"file": file_label, "row": row}} if file_label else {},
    )


def _errors_of(row: int, exc: TrustSvcError) -> list[RowError]:
    problems = getattr(exc, "problems", None) or (
        FieldProblem(getattr(exc, "field", None) or "", exc.code, exc.message),
    )
    return [RowError(row, p.field, p.code, p.message) for p in problems]


def import_rows(
    service: TrustService,
    rows: Iterable[tuple[int, Any]],
    *,
    actor: str,
    department: str | None = None,
    file_label: str = "",
    batch: int = BATCH,
    progress: Callable[[ImportReport], None] | None = None,
    keep_identifiers: bool = False,
    accept: Callable[[Any], bool] | None = None,
) -> ImportReport:
    """Import ``rows`` ((row number, parsed row or parse error)); returns what happened.
    ``accept`` picks the rows this caller imports (a worker's share); the others are not counted."""
    report = ImportReport()
    region_code = _region_of(service.db)
    pending: list[tuple[int, Pending]] = []

    def flush() -> None:
        if not pending:
            return
        outcomes = issue_batch(service, [p for _, p in pending])
        for (n, _), outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, TrustSvcError):
                report.failed += 1
                report.errors.extend(_errors_of(n, outcome))
                continue
            if outcome.replayed:
                report.skipped += 1
            else:
                report.issued += 1
            if keep_identifiers:
                report.identifiers.append((n, outcome.record.identifier, outcome.replayed))
        pending.clear()
        if progress is not None:
            progress(report)

    chunk: list[tuple[int, Any]] = []

    def prepare() -> None:
        with service.db.reader() as session:  # the catalogue, read once per batch of rows
            catalogue = catalogue_of(region_code, session)
            for n, data in chunk:
                report.rows += 1
                if isinstance(data, TrustSvcError):
                    report.failed += 1
                    report.errors.extend(_errors_of(n, data))
                    continue
                try:
                    pending.append(
                        (
                            n,
                            prepare_row(
                                region_code,
                                data,
                                department=department,
                                actor=actor,
                                source=catalogue,
                                file_label=file_label,
                                row=n,
                            ),
                        )
                    )
                except TrustSvcError as exc:
                    report.failed += 1
                    report.errors.extend(_errors_of(n, exc))
        chunk.clear()
        flush()

    for n, data in rows:
        if accept is not None and not accept(data):
            continue
        chunk.append((n, data))
        if len(chunk) >= batch:
            prepare()
    prepare()
    if progress is not None:
        progress(report)
    return report


def write_error_report(path: Path, errors: Iterable[RowError]) -> int:
    """The errors as CSV (row, field, code, message), sorted by row; returns how many."""
    ordered = sorted(errors, key=lambda e: (e.row, e.field))
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["row", "field", "code", "message"])
    for e in ordered:
        out.writerow([e.row, e.field, e.code, e.message])
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)
    return len(ordered)


def department_of(data: Any, default: str | None) -> str:
    """The department a parsed row names (for splitting an import between workers)."""
    if isinstance(data, Mapping) and isinstance(data.get("department"), str):
        return str(data["department"]).strip().upper()
    return (default or "").strip().upper()
