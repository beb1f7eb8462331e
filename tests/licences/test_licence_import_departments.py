"""Importing for many departments: every department's row is sealed, whatever the length of its
seal. A seal (or a TBS_Sign) whose DER length ends in the octet 0x80 (``30 83 01 3b 80``) was
taken by asn1crypto for an indefinite-length encoding and re-parsed in full when it went into a
signature, and the untagged certList CHOICE made that fail (``Error parsing
trustsvc.formats.seals.asn1.CertDigestObj``). With 40 or more departments some seal's length ended so
often enough for the bench's import to stop at its first batch; here one seal is made so."""

from __future__ import annotations

import random

from licence_helpers import DEPT
from sqlalchemy import select

from trustsvc import pki
from trustsvc.formats.seals.asn1 import SESealV4, TBSSignV4
from trustsvc.formats.seals.make import sign_document
from trustsvc.formats.seals.picture import round_seal_picture
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.bulk import import_rows
from trustsvc.sealing import SealRequest, _dept_certs, make_department_seal
from trustsvc.signing_keys import signing_key
from trustsvc.storage.models import Department, LicenceRecord

DEPARTMENTS = 41


def _dept(i: int) -> str:
    if i == 1:
        return DEPT
    base = f"11320000MB{i:07d}"
    return base + uscc_check_char(base)


def _company(n: int) -> str:
    base = f"91320100MA{n:07d}"
    return base + uscc_check_char(base)


def _row(n: int, dept: str) -> dict:
    return {
        "department": dept,
        "type": "营业执照",
        "issued_on": "2021-03-04",
        "fields": {
            "name": f"江苏某某{n}科技有限公司",
            "uscc": _company(n),
            "entity_type": "有限责任公司",
            "legal_representative": "张三",
            "business_scope": "软件开发；信息技术咨询服务",
            "registered_capital": "100万元人民币",
            "established_on": "2021-03-04",
            "domicile": "南京市玄武区中山路1号",
        },
    }


def _length_ends_in_0x80(der: bytes) -> bool:
    """A long-form definite length whose last octet is 0x80 (what asn1crypto mistook)."""
    assert der[1] & 0x80, "a long-form length"
    return der[1 + (der[1] & 0x7F)] == 0x80


def _seal_ending_in_0x80(service, uscc: str, picture: bytes) -> bytes:
    """Make ``uscc``'s default seal one whose DER length ends in 0x80 (its name padded to it; the
    signatures' lengths vary by a byte or two, so each try lands with a chance of about a third:
    40 tries leave ~1e-7 of failing, where 12 left ~1 %, which CI once met)."""
    extra = 0  # bytes added to the name: 3 per 印, 1 per x (at most 89 characters)
    for _ in range(40):
        name = "部门印章" + "印" * (extra // 3) + "x" * (extra % 3)
        der = make_department_seal(
            service, SealRequest(uscc, name, picture=picture, make_default=True), actor="test"
        ).der
        if _length_ends_in_0x80(der):
            return der
        extra = (extra + 0x80 - der[1 + (der[1] & 0x7F)]) % 256
    raise AssertionError("could not make a seal whose length ends in 0x80")


def test_rows_for_41_departments_import_even_when_a_seal_length_ends_in_0x80(service, seal) -> None:
    picture = round_seal_picture("部门印章").data
    depts = [_dept(i) for i in range(1, DEPARTMENTS + 1)]
    for i, uscc in enumerate(depts[1:], start=2):
        pki.add_department(service, uscc, f"江苏省第{i}证照签发部门", actor="test")
        make_department_seal(service, SealRequest(uscc, f"第{i}部门印章", picture=picture), actor="test")
    # the second department's seal (as in the bench's report) ends its length in 0x80
    awkward = _seal_ending_in_0x80(service, depts[1], picture)
    rows = [(n, _row(n, d)) for n, d in enumerate(depts, start=1)]
    random.Random(7).shuffle(rows)  # one batch holding every department, in no particular order
    report = import_rows(service, iter(rows), actor="test", file_label="many.jsonl")
    assert report.as_dict() == {"rows": DEPARTMENTS, "issued": DEPARTMENTS, "skipped": 0, "failed": 0}, report.errors
    # one department at a time too (a batch of one row, as in the report)
    again = import_rows(service, iter([(99, _row(99, depts[1]))]), actor="test", file_label="one.jsonl")
    assert again.as_dict() == {"rows": 1, "issued": 1, "skipped": 0, "failed": 0}, again.errors
    with service.db.reader() as s:
        licences = s.execute(select(LicenceRecord)).unique().scalars().all()
    assert {lic.department.uscc for lic in licences} == set(depts)
    sealed = [lic for lic in licences if lic.department.uscc == depts[1]]
    assert len(sealed) == 2 and all(awkward in lic.metadata_signature for lic in sealed)  # byte for byte


def _first_element(der: bytes) -> bytes:
    """The first element inside a SEQUENCE (an SES_Signature's TBS_Sign), as encoded."""
    inner = der[2 + (der[1] & 0x7F) if der[1] & 0x80 else 2 :]
    n = inner[1] & 0x7F if inner[1] & 0x80 else 0
    length = int.from_bytes(inner[2 : 2 + n], "big") if n else inner[1]
    return inner[: 2 + n + length]


def test_a_seal_and_a_tbs_whose_lengths_end_in_0x80_are_kept_byte_for_byte(service, seal) -> None:
    """The same at the sealing level: the seal goes into the TBS_Sign as received, and a TBS_Sign
    whose own length ends in 0x80 goes into the SES_Signature unchanged."""
    awkward = _seal_ending_in_0x80(service, DEPT, round_seal_picture("部门印章").data)
    assert SESealV4.load(awkward).dump() == awkward
    with service.db.transaction() as s:
        dept = s.execute(select(Department).where(Department.uscc == DEPT)).scalar_one()
        _, signer = _dept_certs(s, dept)
        key = signing_key(service, s, signer, purpose="test")
        signer_der = signer.der
    for n in range(1, 300):
        signature = sign_document(b"data", seal=awkward, signer=key, signer_cert=signer_der, property_info="p" * n)
        tbs = _first_element(signature)
        assert awkward in tbs and tbs in signature
        if _length_ends_in_0x80(tbs):
            assert TBSSignV4.load(tbs).dump() == tbs
            break
    else:
        raise AssertionError("no TBS_Sign length ended in 0x80")
