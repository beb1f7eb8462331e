"""``trustsvc files make``: the PDFs of imported licences, made by worker processes, on SQLite
(WAL) and PostgreSQL. Every licence without a file gets exactly one, each a signed licence PDF
that verifies; a second run finds nothing left to make."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from server_kit import DEPT, business_body, prepare_home, run_cli
from sqlalchemy import func, select

from trustsvc.licences.files import PDF_MEDIA_TYPE
from trustsvc.storage import Database
from trustsvc.storage.models import LicenceFileRecord, LicenceRecord

pytestmark = pytest.mark.slow

ROWS = 23  # two chunks of twenty and a short one, spread over two workers


def test_files_make_gives_every_licence_without_a_file_one_verifying_pdf(server_db_url: str, tmp_path: Path) -> None:
    home = prepare_home(tmp_path / "home", server_db_url)
    rows = tmp_path / "rows.jsonl"
    bodies = [business_body(n) for n in range(ROWS)]
    rows.write_text("".join(json.dumps(b, ensure_ascii=False) + "\n" for b in bodies), encoding="utf-8")
    imported = run_cli(home, "licence", "import", str(rows), "--department", DEPT)
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert json.loads(imported.stdout)["issued"] == ROWS

    made = run_cli(home, "files", "make", "--workers", "2", timeout=600)
    assert made.returncode == 0, made.stderr[-2000:]
    summary = json.loads(made.stdout)
    assert summary["made"] == ROWS and summary["failed"] == []

    db = Database(home.database_url)
    try:
        with db.reader() as s:
            per_licence = dict(
                s.execute(
                    select(LicenceFileRecord.licence_id, func.count())
                    .where(LicenceFileRecord.media_type == PDF_MEDIA_TYPE)
                    .group_by(LicenceFileRecord.licence_id)
                ).all()
            )
            licences = s.execute(select(LicenceRecord.id, LicenceRecord.identifier)).all()
            sample = s.execute(
                select(LicenceFileRecord.content).where(LicenceFileRecord.licence_id == licences[-1][0])
            ).scalar_one()
    finally:
        db.dispose()
    assert len(licences) == ROWS and set(per_licence) == {lid for lid, _ in licences}
    assert set(per_licence.values()) == {1}

    pdf = tmp_path / "licence.pdf"
    pdf.write_bytes(sample)
    verified = run_cli(home, "verify", "--json", str(pdf))
    report = json.loads(verified.stdout)
    assert report["indication"] == "PASSED", report
    assert report["object"]["identifier"] == licences[-1][1]

    again = run_cli(home, "files", "make", "--workers", "2")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["made"] == 0
