"""Signed per-issuer status lists: bits follow the licence states, lists verify against the
region root, unchanged state serves the same list (ETag / 304), sequences only grow, tampered
or stale lists are reported, and concurrent makers agree on one list."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from asn1crypto import cms as asn1_cms
from licence_helpers import DEPT, OTHER_DEPT, business_body
from sqlalchemy import func, select, update

from ca.oids import TrustSvcEKU
from trustsvc.apikeys import Principal, Role
from trustsvc.audit import verify_chain
from trustsvc.errors import InvalidInputError, NotFoundError
from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.licences.service import (
    change_licence,
    issue_licence,
    reinstate_licence,
    renew_licence,
    request_from_json,
    revoke_licence,
    suspend_licence,
)
from trustsvc.local_trust import local_trust_context
from trustsvc.status_lists import (
    BLOCK_BITS,
    STATUS_LIST_CONTENT_TYPE,
    current_status_list,
    decode_bitstring,
    encode_bitstring,
    verify_status_list,
)
from trustsvc.storage.models import AuditEventRecord, CertificateRecord, LicenceRecord, StatusListRecord
from trustsvc.trust import NO_TRUST

ISSUER = Principal("k1", Role.ISSUER, DEPT, (BUSINESS_LICENCE.code,))


def _issue(service) -> LicenceRecord:
    return issue_licence(service, request_from_json(business_body()), principal_or_actor=ISSUER, timestamp=False)


def _verified(service, der: bytes, **kwargs):
    return verify_status_list(der, trust=local_trust_context(service.db), **kwargs)


def _list_count(service) -> int:
    with service.db.reader() as s:
        return s.execute(select(func.count()).select_from(StatusListRecord)).scalar_one()


def _content(der: bytes) -> dict:
    info = asn1_cms.ContentInfo.load(der)
    encap = info["content"]["encap_content_info"]
    assert encap["content_type"].dotted == STATUS_LIST_CONTENT_TYPE
    return json.loads(encap["content"].native)


def _raw_bits(encoded: str) -> bytes:
    """Decoded independently of trustsvc: multibase 'u', base64url, GZIP (W3C)."""
    assert encoded.startswith("u")
    body = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_revoked_licence_bit_is_set_in_the_next_list_and_the_list_verifies(service, seal) -> None:
    kept, doomed = _issue(service), _issue(service)
    first = current_status_list(service, DEPT)
    result = _verified(service, first.der, issuer=DEPT)
    assert result.report.indication.value == "PASSED", result.report.as_dict()
    assert result.trusted and not result.stale
    assert {c.name for c in result.report.checks} >= {"cms.signature", "signer.path", "signer.leaf.extended_key_usage",
                                                      "status_list.freshness", "status_list.issuer"}
    listed = result.status_list
    assert listed is not None and listed.issuer_uscc == DEPT and listed.region_code == "320000"
    assert listed.status_of(kept.status_index) == listed.status_of(doomed.status_index) == "active"

    revoke_licence(service, doomed.identifier, principal_or_actor=ISSUER, reason="吊销")
    second = current_status_list(service, DEPT)
    assert second.sequence == first.sequence + 1 and second.sha256 != first.sha256
    after = _verified(service, second.der, issuer=DEPT, min_sequence=first.sequence)
    assert after.report.indication.value == "PASSED", after.report.as_dict()
    assert after.status_list.status_of(doomed.status_index) == "revoked"
    assert after.status_list.status_of(kept.status_index) == "active"
    assert after.status_list.indexes("revocation") == [doomed.status_index]
    # the W3C encoding, read without trustsvc: bit i is the MSB-first bit i of the GZIP'd bytes
    doc = _content(second.der)
    assert set(doc) == {"format", "issuer", "region", "sequence", "issued_at", "next_update", "size",
                        "revocation", "suspension"}
    assert doc["issuer"] == {"uscc": DEPT, "name": "江苏省市场监督管理局"} and doc["size"] == BLOCK_BITS
    raw = _raw_bits(doc["revocation"])
    assert len(raw) * 8 == BLOCK_BITS
    i = doomed.status_index
    assert raw[i // 8] == 0x80 >> (i % 8) and sum(bin(b).count("1") for b in raw) == 1
    assert not any(_raw_bits(doc["suspension"]))
    with service.db.reader() as s:
        events = s.execute(select(AuditEventRecord).where(AuditEventRecord.action == "status_list.issue")
                           ).scalars().all()
        assert [json.loads(e.details)["sequence"] for e in events] == [1, 2]
        assert all(e.key_ref.endswith("status-list-signer") for e in events)
        assert verify_chain(s).ok


def test_suspension_bit_follows_suspend_and_reinstate(service, seal) -> None:
    row = _issue(service)
    suspend_licence(service, row.identifier, principal_or_actor=ISSUER, reason="核查中")
    suspended = current_status_list(service, DEPT)
    assert suspended.status_list.status_of(row.status_index) == "suspended"
    assert suspended.status_list.indexes("suspension") == [row.status_index]
    assert suspended.status_list.indexes("revocation") == []
    reinstate_licence(service, row.identifier, principal_or_actor=ISSUER)
    back = current_status_list(service, DEPT)
    assert back.sequence == suspended.sequence + 1
    assert back.status_list.status_of(row.status_index) == "active"
    assert back.status_list.indexes("suspension") == []


def test_superseded_versions_count_as_revoked(service, seal) -> None:
    v1 = _issue(service)
    v2 = change_licence(service, v1.identifier, principal_or_actor=ISSUER, fields={"domicile": "南京市鼓楼区1号"},
                        timestamp=False)
    v3 = renew_licence(service, v2.identifier, principal_or_actor=ISSUER, valid_until=dt.date(2045, 1, 1),
                       timestamp=False)
    listed = current_status_list(service, DEPT).status_list
    assert listed.status_of(v1.status_index) == listed.status_of(v2.status_index) == "revoked"
    assert listed.status_of(v3.status_index) == "active"


def test_unchanged_state_serves_the_same_list_and_issuance_needs_no_new_one(service, seal) -> None:
    _issue(service)
    first = current_status_list(service, DEPT)
    assert current_status_list(service, DEPT).der == first.der
    newcomer = _issue(service)  # a new index starts at 0 in every list: nothing to re-sign
    same = current_status_list(service, DEPT)
    assert same.sha256 == first.sha256 and _list_count(service) == 1
    assert same.status_list.status_of(newcomer.status_index) == "active"
    # half-way to next_update the list is re-signed with the next sequence
    later = first.refresh_at + dt.timedelta(seconds=1)
    renewed = current_status_list(service, DEPT, now=later)
    assert renewed.sequence == first.sequence + 1
    assert renewed.status_list.issued_at > first.status_list.issued_at
    assert renewed.status_list.next_update - renewed.status_list.issued_at == dt.timedelta(hours=1)
    assert renewed.status_list.revocation == first.status_list.revocation


def test_an_index_beyond_the_list_grows_it(service, seal) -> None:
    row = _issue(service)
    first = current_status_list(service, DEPT)
    with pytest.raises(InvalidInputError) as err:
        first.status_list.status_of(BLOCK_BITS)
    assert err.value.code == "status_index_out_of_range"
    with service.db.transaction() as s:  # as if 131,072 licences had been issued since
        s.execute(update(LicenceRecord).where(LicenceRecord.id == row.id).values(status_index=BLOCK_BITS + 5))
    revoke_licence(service, row.identifier, principal_or_actor=ISSUER, reason="吊销")
    grown = current_status_list(service, DEPT)
    assert grown.status_list.size == 2 * BLOCK_BITS
    assert grown.status_list.status_of(BLOCK_BITS + 5) == "revoked"


def test_a_tampered_list_fails_and_yields_no_list(service, seal) -> None:
    row = _issue(service)
    revoke_licence(service, row.identifier, principal_or_actor=ISSUER, reason="吊销")
    der = current_status_list(service, DEPT).der
    doc = _content(der)
    # change one character of the signed revocation bitstring (same length, still base64url)
    encoded = doc["revocation"].encode()
    assert der.count(encoded) == 1
    middle = len(encoded) // 2
    changed = encoded[:middle] + (b"A" if encoded[middle:middle + 1] != b"A" else b"B") + encoded[middle + 1:]
    tampered = der.replace(encoded, changed)
    result = _verified(service, tampered)
    assert result.report.indication.value == "FAILED"
    assert result.report.sub_indication in ("HASH_FAILURE", "SIG_CRYPTO_FAILURE")
    assert result.status_list is None and not result.trusted
    # a broken signature value
    flipped = bytearray(der)
    flipped[-10] ^= 0x01
    broken = _verified(service, bytes(flipped))
    assert broken.report.indication.value == "FAILED" and broken.status_list is None
    # not a CMS at all
    junk = _verified(service, b"\x30\x03\x02\x01\x01")
    assert junk.report.sub_indication == "FORMAT_FAILURE" and junk.status_list is None


def test_a_stale_list_is_reported_stale(service, seal) -> None:
    _issue(service)
    signed = current_status_list(service, DEPT)
    late = signed.status_list.next_update + dt.timedelta(seconds=1)
    result = _verified(service, signed.der, now=late)
    assert result.stale and signed.status_list.is_stale(late)
    assert result.report.indication.value == "INDETERMINATE" and result.report.sub_indication == "TRY_LATER"
    assert "stale" in result.report.message
    assert result.status_list is not None and not result.trusted
    fresh = _verified(service, signed.der, now=signed.status_list.next_update - dt.timedelta(seconds=1))
    assert fresh.trusted and not fresh.stale


def test_wrong_issuer_rollback_and_untrusted_signer_are_not_passed(service, seal) -> None:
    _issue(service)
    first = current_status_list(service, DEPT)
    other = _verified(service, first.der, issuer=OTHER_DEPT)
    assert other.report.indication.value == "FAILED" and other.status_list is None
    newer = current_status_list(service, DEPT, now=first.refresh_at + dt.timedelta(seconds=1))
    replay = _verified(service, first.der, min_sequence=newer.sequence)
    assert replay.report.indication.value == "FAILED" and "replayed" in replay.report.message
    untrusted = verify_status_list(first.der, trust=NO_TRUST)
    assert untrusted.report.indication.value == "INDETERMINATE"
    assert untrusted.report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"


def test_a_list_signed_by_another_key_is_refused(service, seal) -> None:
    """Same JSON, signed by the department's document signer: no status-list-signing EKU."""
    from ca.cms import sign_cms

    _issue(service)
    doc = _content(current_status_list(service, DEPT).der)
    content = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    with service.db.reader() as s:
        row = s.execute(select(CertificateRecord).where(CertificateRecord.slug == f"{DEPT}/signer")).scalar_one()
    der = sign_cms(content, signer=service.keystore.signer(row.key_ref), signer_cert=row.der, detached=False,
                   content_type=STATUS_LIST_CONTENT_TYPE)
    result = _verified(service, der)
    assert result.report.indication.value == "FAILED" and result.status_list is None
    eku = next(c for c in result.report.checks if c.name.endswith("extended_key_usage"))
    assert eku.failed and TrustSvcEKU.STATUS_LIST_SIGNING in eku.detail


def test_unknown_issuer_is_not_found(service) -> None:
    with pytest.raises(NotFoundError) as err:
        current_status_list(service, OTHER_DEPT)
    assert err.value.code == "issuer_not_found"


def test_concurrent_makers_store_one_list(service, seal) -> None:
    row = _issue(service)
    first = current_status_list(service, DEPT)
    revoke_licence(service, row.identifier, principal_or_actor=ISSUER, reason="吊销")
    threads = 6
    start = threading.Barrier(threads)

    def make(_: int) -> str:
        start.wait()
        return current_status_list(service, DEPT).sha256

    with ThreadPoolExecutor(threads) as pool:
        shas = list(pool.map(make, range(threads)))
    assert len(set(shas)) == 1
    with service.db.reader() as s:
        sequences = s.execute(select(StatusListRecord.sequence).order_by(StatusListRecord.sequence)).scalars().all()
    assert sequences == [first.sequence, first.sequence + 1]
    assert hashlib.sha256(current_status_list(service, DEPT).der).hexdigest() == shas[0]


def test_bitstring_codec_is_w3c_and_strict() -> None:
    bits = bytearray(BLOCK_BITS // 8)
    bits[0], bits[-1] = 0x80, 0x01  # index 0 and the last index
    encoded = encode_bitstring(bytes(bits))
    assert encoded.startswith("u") and "=" not in encoded and encode_bitstring(bytes(bits)) == encoded
    assert _raw_bits(encoded) == bytes(bits)
    assert decode_bitstring(encoded, BLOCK_BITS) == bytes(bits)
    for bad, size in ((encoded[1:], BLOCK_BITS), (encoded, 2 * BLOCK_BITS), ("u!!!", BLOCK_BITS),
                      ("u" + base64.urlsafe_b64encode(gzip.compress(bytes(10**7))).decode(), BLOCK_BITS)):
        with pytest.raises(InvalidInputError) as err:
            decode_bitstring(bad, size)
        assert err.value.code == "bad_status_list"


def test_the_verify_entry_point_recognises_status_lists(service, seal, client) -> None:
    from trustsvc.verify import verify_bytes

    row = _issue(service)
    suspend_licence(service, row.identifier, principal_or_actor=ISSUER)
    der = current_status_list(service, DEPT).der
    report = verify_bytes(der, trust=local_trust_context(service.db))
    assert report.object["kind"] == "status_list" and report.indication.value == "PASSED"
    over_http = client.post("/api/v1/verify", data=der, headers={"Content-Type": "application/octet-stream"})
    assert over_http.status_code == 200
    body = over_http.get_json()
    assert body["object"]["kind"] == "status_list" and body["indication"] == "PASSED"
    assert body["object"]["issuer"] == DEPT
