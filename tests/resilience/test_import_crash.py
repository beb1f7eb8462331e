"""SIGKILL in the middle of ``trustsvc licence import``, on SQLite (WAL) and PostgreSQL.

The import is killed (fault_runner.py: the N-th Python line event inside
``trustsvc.licences.bulk.import_rows``) before, inside and between its batch transactions, then
run again to the end. Afterwards every good row is there exactly once (its original identifier
kept where it had one), serials and status indexes are gap-free, each licence has its
``seal.apply`` and ``licence.issue`` events and nothing else half-written is left, and the
audit chain verifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import reset_postgres
from server_kit import DEPT, Home, business_body, prepare_home, run_cli, run_with_fault
from sqlalchemy import func, select

from trustsvc.audit import verify_chain
from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.licences.identifier import LicenceIdentifier
from trustsvc.storage import Database
from trustsvc.storage.models import AuditEventRecord, LicenceRecord

pytestmark = pytest.mark.slow

ROWS = 44
BATCH = "36"  # a batch of 36 goes by COPY on PostgreSQL (storage.copy.COPY_MIN), the rest by INSERT
TARGET = "trustsvc.licences.bulk:import_rows"


def _rows(path: Path) -> Path:
    lines = []
    for n in range(ROWS):
        body = business_body(n)
        body.pop("holder", None)
        if n % 3 == 0:
            body["id"] = LicenceIdentifier(BUSINESS_LICENCE.code, DEPT, f"2015{n:07d}", 1).text
            body["issued_on"] = "2015-05-02"
        lines.append(json.dumps(body, ensure_ascii=False))
    lines.append(json.dumps({"type": BUSINESS_LICENCE.code, "fields": {}}))  # one bad row, every run
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_sigkill_during_import_leaves_no_duplicate_and_no_hole(server_db_url: str, tmp_path: Path) -> None:
    def fresh(tag: str) -> Home:
        if server_db_url.startswith("sqlite"):
            return prepare_home(tmp_path / tag, f"sqlite:///{tmp_path / tag / 'trustsvc.db'}")
        return prepare_home(tmp_path / tag, reset_postgres(server_db_url))

    rows = _rows(tmp_path / "rows.jsonl")
    args = ("licence", "import", str(rows), "--department", DEPT, "--batch", BATCH)
    dry = run_with_fault(fresh("dry"), TARGET, "0", *args)
    assert dry.returncode == 3, dry.stderr[-2000:]  # the bad row
    total = int(dry.stderr.rsplit("events=", 1)[1].split()[0])
    home = fresh("home")  # the kills start from an empty database again
    for fraction in (0.15, 0.5, 0.85):
        killed = run_with_fault(home, TARGET, str(int(total * fraction)), *args)
        assert killed.returncode == -9, killed.stderr[-2000:]
    final = run_cli(home, *args)
    assert final.returncode == 3, final.stderr[-2000:]
    summary = json.loads(final.stdout)
    assert summary["failed"] == 1 and summary["issued"] + summary["skipped"] == ROWS
    db = Database(home.database_url)
    try:
        with db.reader() as s:
            licences = s.execute(select(LicenceRecord)).unique().scalars().all()
            actions = dict(
                s.execute(select(AuditEventRecord.action, func.count()).group_by(AuditEventRecord.action)).all()
            )
            chain = verify_chain(s)
    finally:
        db.dispose()
    assert len(licences) == ROWS and len({r.identifier for r in licences}) == ROWS
    assert sorted(r.status_index for r in licences) == list(range(ROWS))
    new = sorted(int(r.serial[4:]) for r in licences if not r.serial.startswith("2015"))
    assert new == list(range(1, len(new) + 1))
    assert sum(r.serial.startswith("2015") for r in licences) == len(range(0, ROWS, 3))
    assert actions.get("licence.issue") == ROWS and actions.get("seal.apply") == ROWS
    assert chain.ok, chain.as_dict()
