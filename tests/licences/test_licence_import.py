"""Batched issuance and bulk import: one transaction for many licences keeps every guarantee of
one-by-one issuance (gap-free serials and status indexes, idempotency inside and across
batches, an intact audit chain with each licence's events), bad rows are reported with row,
field and code and never stop the good ones, a re-run skips what is done, original identifiers
and issue dates are kept, and POST /api/v1/licences:batch answers each licence by index."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from licence_helpers import DEPT, bearer, business_body
from sqlalchemy import func, select

from trustsvc.apikeys import SystemActor
from trustsvc.audit import verify_chain
from trustsvc.errors import ConflictError
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.holder.models import LicenceMsoRecord
from trustsvc.licences.bulk import import_rows, read_rows
from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.licences.identifier import LicenceIdentifier
from trustsvc.licences.issuing import Pending, issue_batch
from trustsvc.licences.service import _check_request, _request_hash, issue_licence, request_from_json
from trustsvc.storage.models import AuditEventRecord, LicenceRecord


def _company(n: int) -> str:
    body = f"91320100MA{n:07d}"
    return body + uscc_check_char(body)


def _row(n: int, **extra: object) -> dict:
    body = business_body()
    body["fields"] = {**body["fields"], "name": f"公司{n}", "uscc": _company(n)}
    body["holder"] = {"id_type": "001"}
    return {**body, **extra}


def _pending(service, n: int, key: str | None = None) -> Pending:
    with service.db.reader() as s:
        checked = _check_request("320000", request_from_json(_row(n)), s)
    return Pending(
        checked=checked,
        department_uscc=DEPT,
        actor="test",
        request_hash=_request_hash(DEPT, checked),
        idempotency_key=key,
    )


def _facts(service) -> tuple[list[LicenceRecord], dict[str, int], object]:
    with service.db.reader() as s:
        rows = s.execute(select(LicenceRecord).order_by(LicenceRecord.id)).unique().scalars().all()
        actions = dict(s.execute(select(AuditEventRecord.action, func.count()).group_by(AuditEventRecord.action)).all())
        return rows, actions, verify_chain(s)


def test_a_batch_keeps_every_guarantee_and_fails_only_its_bad_items(service, seal) -> None:
    first = _pending(service, 1, key="k1")
    items = [
        first,
        _pending(service, 2),
        first,  # the same key twice in one batch: one licence
        Pending(**{**first.__dict__, "request_hash": "0" * 64}),  # the key reused for another body
        Pending(**{**_pending(service, 3).__dict__, "department_uscc": "11320000MB0000009X"}),
    ]
    out = issue_batch(service, items)
    assert not out[0].replayed and not out[1].replayed
    assert out[2].replayed and out[2].record.identifier == out[0].record.identifier
    assert isinstance(out[3], ConflictError) and out[3].code == "idempotency_key_reused"
    assert out[4].code == "department_not_found"
    again = issue_batch(service, [first])  # a later batch replays it too
    assert again[0].replayed and again[0].record.identifier == out[0].record.identifier
    rows, actions, chain = _facts(service)
    assert [r.serial[4:] for r in rows] == ["0000001", "0000002"] and [r.status_index for r in rows] == [0, 1]
    assert actions["licence.issue"] == 2 and actions["seal.apply"] == 2 and actions["holder.mso.sign"] == 2
    with service.db.reader() as s:
        assert s.execute(select(func.count()).select_from(LicenceMsoRecord)).scalar_one() == 2
    assert chain.ok, chain.as_dict()


def test_concurrent_issuance_is_group_committed_and_chained(service, seal) -> None:
    done: list[str] = []
    start = threading.Barrier(6)

    def worker(t: int) -> None:
        start.wait()
        for i in range(10):
            done.append(
                issue_licence(
                    service,
                    request_from_json(business_body()),
                    principal_or_actor=SystemActor("test"),
                    department_uscc=DEPT,
                    idempotency_key=f"t{t}-{i}",
                    timestamp=False,
                ).identifier
            )

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows, actions, chain = _facts(service)
    assert len(done) == len(set(done)) == len(rows) == 60
    assert sorted(int(r.serial[4:]) for r in rows) == list(range(1, 61))
    assert sorted(r.status_index for r in rows) == list(range(60))
    assert actions["licence.issue"] == 60 and chain.ok


def test_import_reports_bad_rows_keeps_originals_and_resumes(service, seal, tmp_path: Path) -> None:
    original = LicenceIdentifier(BUSINESS_LICENCE.code, DEPT, "20150000042", 2)
    lines = [
        json.dumps(_row(1, department=DEPT, id=original.text, issued_on="2015-05-02"), ensure_ascii=False),
        json.dumps(_row(2, key="old-2"), ensure_ascii=False),
        json.dumps({**_row(3), "fields": {"name": "缺字段"}}, ensure_ascii=False),
        "not json",
        json.dumps(_row(4, id="1.2.156.3005.2.X.Y.1.001.Z"), ensure_ascii=False),
        json.dumps(_row(5), ensure_ascii=False),
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_rows(service, read_rows(path), actor="test", department=DEPT, batch=2)
    assert (report.rows, report.issued, report.skipped, report.failed) == (6, 3, 0, 3)
    bad = {(e.row, e.field, e.code) for e in report.errors}
    assert (3, "fields.uscc", "missing_field") in bad and (4, "", "malformed_row") in bad
    assert any(e.row == 5 and e.field == "id" for e in report.errors)
    rows, _actions, chain = _facts(service)
    kept = next(r for r in rows if r.identifier == original.text)
    assert kept.serial == "20150000042" and kept.version == 2
    assert kept.issued_at.date().isoformat() == "2015-05-01"  # 2015-05-02 00:00 in China is 16:00 UTC the day before
    assert json.loads(kept.metadata_json)["ZZBFRQ"] == "2015-05-02"
    assert sorted(r.status_index for r in rows) == [0, 1, 2]
    again = import_rows(service, read_rows(path), actor="test", department=DEPT, batch=4)
    assert (again.issued, again.skipped, again.failed) == (0, 3, 3)
    rows2, actions2, chain2 = _facts(service)
    assert len(rows2) == 3 and actions2["licence.issue"] == 3 and chain2.ok and chain.ok


def test_import_reads_csv_with_dotted_columns(service, seal, tmp_path: Path) -> None:
    body = _row(7)
    cols = ["type", "holder.id_type", *[f"fields.{k}" for k in body["fields"]], "valid_from"]
    values = [body["type"], "001", *body["fields"].values(), body["valid_from"]]
    path = tmp_path / "rows.csv"
    path.write_text(",".join(cols) + "\n" + ",".join(values) + "\n", encoding="utf-8")
    report = import_rows(service, read_rows(path), actor="test", department=DEPT)
    assert (report.issued, report.failed) == (1, 0), report.errors


def test_batch_endpoint_answers_each_licence_by_index(client, keys, seal) -> None:
    bodies = [_row(1, key="b-1"), {**_row(2), "fields": {}}, _row(3)]
    resp = client.post("/api/v1/licences:batch", json={"licences": bodies}, headers=bearer(keys["issuer"]))
    assert resp.status_code == 200, resp.get_json()
    out = resp.get_json()
    assert (out["created"], out["replayed"], out["failed"]) == (2, 0, 1)
    assert [r["status"] for r in out["results"]] == ["created", "error", "created"]
    assert any(e["code"] == "missing_field" for e in out["results"][1]["errors"])
    again = client.post("/api/v1/licences:batch", json={"licences": bodies[:1]}, headers=bearer(keys["issuer"]))
    assert again.get_json()["results"][0] == {"index": 0, "status": "replayed", "id": out["results"][0]["id"]}
    too_many = client.post("/api/v1/licences:batch", json={"licences": []}, headers=bearer(keys["issuer"]))
    assert too_many.status_code == 422 and "invalid_batch" in json.dumps(too_many.get_json())


def test_a_large_import_batch_goes_by_copy_on_postgresql_and_keeps_every_guarantee(service, seal, monkeypatch) -> None:
    from trustsvc.federation.local_trust import local_trust_context
    from trustsvc.storage import copy as copy_module
    from trustsvc.verify import verify_bytes

    copied: list[str] = []
    real = copy_module.copy_rows
    monkeypatch.setattr(
        copy_module, "copy_rows", lambda session, table, rows: (copied.append(table.name), real(session, table, rows))
    )
    import trustsvc.audit as audit_module
    import trustsvc.licences.issuing as issuing_module

    monkeypatch.setattr(issuing_module, "copy_rows", copy_module.copy_rows)
    monkeypatch.setattr(audit_module, "copy_rows", copy_module.copy_rows)
    rows = [(n, _row(n)) for n in range(1, 41)]
    report = import_rows(service, rows, actor="test", department=DEPT, batch=40)
    assert report.as_dict() == {"rows": 40, "issued": 40, "skipped": 0, "failed": 0}
    expected = ["licences", "audit_log"] if service.db.dialect == "postgresql" else []
    assert copied == expected
    licences, actions, chain = _facts(service)
    assert [r.status_index for r in licences] == list(range(40)) and chain.ok, chain.as_dict()
    assert actions["licence.issue"] == 40 and actions["seal.apply"] == 40
    trust = local_trust_context(service.db)
    for r in (licences[0], licences[-1]):
        assert (
            verify_bytes(r.metadata_signature, trust=trust, original=r.metadata_json.encode()).indication.value
            == "PASSED"
        )
        assert r.fields["name"].startswith("公司")  # JSON written by COPY reads back as a mapping
    again = import_rows(service, rows, actor="test", department=DEPT, batch=40)
    assert again.as_dict() == {"rows": 40, "issued": 0, "skipped": 40, "failed": 0}


def _threads_calling(monkeypatch, module, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The names of the threads that call ``module.name`` from now on, in order."""
    seen: list[str] = []
    real = getattr(module, name)

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return seen


def test_a_large_batch_signs_on_the_signing_threads_and_keeps_each_result_with_its_licence(
    service, seal, monkeypatch
) -> None:
    """A batch of PARALLEL_FROM or more (an import, licences:batch) makes its seal signatures and
    MSOs on the signing threads (SM2 runs without the interpreter lock): every licence still gets
    its own sealed metadata and its own MSO, in order."""
    import trustsvc.licences.issuing as issuing
    from trustsvc.federation.local_trust import local_trust_context
    from trustsvc.verify import verify_bytes

    monkeypatch.setattr(issuing, "_threads", 2)  # as on a two-core machine, whatever this one has
    where = _threads_calling(monkeypatch, issuing, "sign_document_parts")
    mso_where = _threads_calling(monkeypatch, issuing, "sign_mso")
    count = issuing.PARALLEL_FROM + 4
    out = issue_batch(service, [_pending(service, n) for n in range(1, count + 1)])
    assert [o.record.fields["name"] for o in out] == [f"公司{n}" for n in range(1, count + 1)]
    assert len(where) == count and all(name.startswith("trustsvc-sign") for name in where)
    assert len(mso_where) == count and all(name.startswith("trustsvc-sign") for name in mso_where)
    rows, actions, chain = _facts(service)
    assert actions["holder.mso.sign"] == count and chain.ok, chain.as_dict()
    trust = local_trust_context(service.db)
    with service.db.reader() as s:
        msos = {m.licence_id: m for m in s.execute(select(LicenceMsoRecord)).scalars()}
    for row in rows:
        assert msos[row.id].items["name"][1] == row.fields["name"]
        verdict = verify_bytes(row.metadata_signature, trust=trust, original=row.metadata_json.encode())
        assert verdict.indication.value == "PASSED" and row.identifier in row.metadata_json

    small = issue_batch(service, [_pending(service, n) for n in range(100, 103)])  # two or three: the caller signs
    assert len(small) == 3 and where[count:] == [threading.current_thread().name] * 3
