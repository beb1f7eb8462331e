"""Region PKI service on SQLite and PostgreSQL: init and department add are idempotent, CRLs
are signed and list revocations, and no private key material reaches the database."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import keys
from sqlalchemy import func, select, text

from ca import parse_certificate, validate_path
from hsm import verify
from trustsvc import pki
from trustsvc.errors import ConflictError, InvalidInputError, NotFoundError
from trustsvc.storage import AuditEventRecord, CertificateRecord, Department

DEPT = "11320000MB0000001G"


def _counts(svc) -> tuple[int, int, list[str]]:
    with svc.db.reader() as s:
        certs = s.execute(select(func.count()).select_from(CertificateRecord)).scalar_one()
        events = s.execute(select(func.count()).select_from(AuditEventRecord)).scalar_one()
    return certs, events, svc.keystore.list_keys()


def test_init_and_department_add_are_idempotent(service) -> None:
    before = _counts(service)
    again = pki.init_region(service, "320000", "江苏省", actor="test")
    dept = pki.add_department(service, DEPT, "江苏省市场监督管理局", actor="test")
    assert again.created is False and dept.created is False
    assert _counts(service) == before
    with service.db.reader() as s:
        assert again.root_sha256 == pki.get_ca(s, "root").sha256


def test_init_for_another_region_is_refused(service) -> None:
    with pytest.raises(ConflictError):
        pki.init_region(service, "220000", "吉林省", actor="test")


def test_department_validation(service) -> None:
    with pytest.raises(InvalidInputError):
        pki.add_department(service, "11320000MB0000001A", "x", actor="test")
    with pytest.raises(ConflictError):
        pki.add_department(service, DEPT, "另一个名字", actor="test")


def test_every_issued_certificate_chains_to_the_root(service) -> None:
    with service.db.reader() as s:
        rows = s.execute(select(CertificateRecord)).scalars().all()
        by_id = {r.id: r for r in rows}
        root = pki.get_ca(s, "root")
    assert {r.slug for r in rows} >= {
        "root",
        "services",
        "trust-list-signer",
        "status-list-signer",
        "code-signer",
        "ocsp",
        "tsa",
        DEPT,
        f"{DEPT}/seal-maker",
        f"{DEPT}/signer",
    }
    now = dt.datetime.now(dt.UTC)
    for row in rows:
        chain = []
        issuer = by_id.get(row.issuer_id) if row.issuer_id else None
        while issuer is not None and issuer.issuer_id is not None:
            chain.append(issuer.der)
            issuer = by_id[issuer.issuer_id]
        result = validate_path(row.der, intermediates=chain, anchors=[root.der], at=now)
        assert result.indication == "PASSED", (row.slug, result)
        assert service.keystore.public_key(row.key_ref) == parse_certificate(row.der).spki


def test_department_certificates_carry_the_uscc(service) -> None:
    with service.db.reader() as s:
        row = s.execute(select(CertificateRecord).where(CertificateRecord.slug == f"{DEPT}/signer")).scalar_one()
        dept = s.execute(select(Department).where(Department.uscc == DEPT)).scalar_one()
        assert dept.issuing_ca_id is not None
    assert DEPT in row.subject and "江苏省市场监督管理局" in row.subject


def test_crl_is_signed_cached_and_lists_revocations(service) -> None:
    first = pki.current_crl(service, DEPT)
    assert pki.current_crl(service, DEPT) == first  # stored, not re-signed on every request
    with service.db.reader() as s:
        ca = pki.get_ca(s, DEPT)
    parsed = asn1_crl.CertificateList.load(first)
    verify(parse_certificate(ca.der).spki, parsed["tbs_cert_list"].dump(), parsed["signature"].native)
    assert len(parsed["tbs_cert_list"]["revoked_certificates"]) == 0

    revoked = pki.revoke_certificate(service, f"{DEPT}/seal-maker", "key_compromise", actor="test")
    second = pki.current_crl(service, DEPT, force=True)
    parsed2 = asn1_crl.CertificateList.load(second)
    serials = [int(e["user_certificate"].native) for e in parsed2["tbs_cert_list"]["revoked_certificates"]]
    assert serials == [int(revoked.serial_hex, 16)]
    numbers = [
        ext["extn_value"].native
        for ext in parsed2["tbs_cert_list"]["crl_extensions"]
        if ext["extn_id"].native == "crl_number"
    ]
    assert numbers == [2]


def test_unknown_ca(service) -> None:
    with pytest.raises(NotFoundError):
        pki.current_crl(service, "nope")


def _private_scalars(service) -> list[bytes]:
    scalars = []
    for ref in service.keystore.list_keys():
        handle = service.keystore.signer(ref)._handle  # the unsealed in-memory key, for this check only
        info = keys.PrivateKeyInfo.load(handle.pkcs8())
        scalars.append(info["private_key"].parsed["private_key"].contents.rjust(32, b"\0")[-32:])
    return scalars


def test_no_private_key_or_pin_in_the_database(service) -> None:
    scalars = _private_scalars(service)
    assert len(scalars) == 10
    needles = []
    for k in scalars:
        needles += [k, k.hex().encode(), k.hex().upper().encode(), base64.b64encode(k)]
    needles.append(b"test-pin-1234")
    with service.db.reader() as s:
        tables = ["regions", "certificates", "departments", "crls", "api_keys", "audit_log", "audit_head"]
        blob = b""
        for table in tables:
            for row in s.execute(text(f"SELECT * FROM {table}")):
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        blob += bytes(value)
                    elif value is not None:
                        blob += str(value).encode()
    assert blob, "expected database contents"
    for needle in needles:
        assert needle not in blob
