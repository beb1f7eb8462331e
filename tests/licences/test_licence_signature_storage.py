"""A licence row stores its SES_Signature without the seal it carries (the seal is stored once,
in ``seals``); reading it gives back the signed DER byte for byte, and an edited stored part no
longer verifies."""

from __future__ import annotations

import hashlib
import json

import pytest
from licence_helpers import DEPT, business_body
from sqlalchemy import select, update

from trustsvc.apikeys import SystemActor
from trustsvc.federation.local_trust import local_trust_context
from trustsvc.licences.service import canonical_metadata, issue_licence, request_from_json
from trustsvc.storage import signatures
from trustsvc.storage.models import AuditEventRecord, LicenceRecord, SealRecord
from trustsvc.verify import verify_bytes


def _issue(service) -> str:
    row = issue_licence(
        service, request_from_json(business_body()), principal_or_actor=SystemActor("cli:test"), department_uscc=DEPT
    )
    return row.identifier


def _signed_sha256(service, identifier: str) -> str:
    """What the ``seal.apply`` event recorded of the DER when it was signed."""
    with service.db.reader() as s:
        for e in s.execute(select(AuditEventRecord).where(AuditEventRecord.action == "seal.apply")).scalars():
            details = json.loads(e.details)
            if details.get("property_info") == identifier:
                return str(details["signature_sha256"])
    raise AssertionError("no seal.apply event")


def _fresh_read(service, identifier: str) -> tuple[bytes, bytes, bytes]:
    """(stored part, reassembled DER, metadata) read in a new session with no seal in memory."""
    signatures._seals.clear()
    with service.db.reader() as s:
        row = s.execute(select(LicenceRecord).where(LicenceRecord.identifier == identifier)).scalar_one()
        return row.signature_stored, row.metadata_signature, canonical_metadata(row)


def test_row_keeps_the_signature_without_its_seal_and_reassembles_it_exactly(service, seal) -> None:
    identifier = _issue(service)
    stored, full, meta = _fresh_read(service, identifier)
    with service.db.reader() as s:
        seal_der = s.execute(select(SealRecord.der).where(SealRecord.esid == seal.esid)).scalar_one()
    assert signatures.is_compact(stored) and seal_der not in stored
    assert len(stored) < 8_000 < len(seal_der)  # the seal (picture and certificates) is not in the row
    assert hashlib.sha256(full).hexdigest() == _signed_sha256(service, identifier)  # byte for byte as signed
    assert seal_der in full
    report = verify_bytes(full, trust=local_trust_context(service.db), original=meta)
    assert report.indication.value == "PASSED", report.as_dict()


def test_an_edited_stored_part_fails_verification(service, seal) -> None:
    identifier = _issue(service)
    stored, _, _ = _fresh_read(service, identifier)
    edited = bytearray(stored)
    edited[-40] ^= 0x01  # inside the signature value, after the seal
    with service.db.transaction() as s:
        s.execute(
            update(LicenceRecord).where(LicenceRecord.identifier == identifier).values(signature_stored=bytes(edited))
        )
    _, full, meta = _fresh_read(service, identifier)
    report = verify_bytes(full, trust=local_trust_context(service.db), original=meta)
    assert report.indication.value == "FAILED", report.as_dict()


def test_a_row_written_whole_before_compaction_reads_the_same(service, seal) -> None:
    identifier = _issue(service)
    _, full, _ = _fresh_read(service, identifier)
    with service.db.transaction() as s:
        s.execute(update(LicenceRecord).where(LicenceRecord.identifier == identifier).values(signature_stored=full))
    stored, again, _ = _fresh_read(service, identifier)
    assert stored == full == again


def test_splicing_refuses_a_wrong_seal_and_keeps_a_foreign_signature_whole() -> None:
    seal_der, other = b"\x30\x03seal", b"\x30\x03fake"
    signature = b"\x30\x10head" + seal_der + b"tail"
    stored = signatures.compact(signature, seal_der)
    assert signatures.expand(stored, seal_der) == signature and seal_der not in stored
    with pytest.raises(ValueError):
        signatures.expand(stored, other)
    with pytest.raises(ValueError):
        signatures.expand(stored, None)
    assert signatures.compact(signature, other) == signature  # does not carry it: stored whole


def test_a_row_read_in_a_session_closed_since_still_gets_its_seal(service, seal) -> None:
    identifier = _issue(service)
    _, full, _ = _fresh_read(service, identifier)
    signatures._seals.clear()
    with service.db.reader() as s:
        row = s.execute(select(LicenceRecord).where(LicenceRecord.identifier == identifier)).scalar_one()
    assert row.metadata_signature == full  # read after the session closed, the seal not in memory
