"""Signed per-issuer status lists: bits follow the licence states, lists verify against the
region root, unchanged state serves the same list (ETag / 304), sequences only grow, tampered
or stale lists are reported, and concurrent makers agree on one list. Lists are published on
change: the newest stored list is right after every issuance and status change without a GET,
issuance signs only when crossing a block, and due lists are re-signed in the background."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from asn1crypto import cms as asn1_cms
from licence_helpers import DEPT, OTHER_DEPT, business_body
from sqlalchemy import delete, func, select, update

from ca.oids import TrustSvcEKU
from trustsvc.apikeys import Principal, Role
from trustsvc.audit import AuditEvent, record, verify_chain
from trustsvc.errors import ConflictError, InvalidInputError, NotFoundError
from trustsvc.federation.local_trust import local_trust_context
from trustsvc.formats.trust import NO_TRUST
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
from trustsvc.status_lists import (
    BLOCK_BITS,
    STATUS_LIST_CONTENT_TYPE,
    StatusListPublisher,
    current_status_list,
    decode_bitstring,
    encode_bitstring,
    publish_due_status_lists,
    verify_status_list,
)
from trustsvc.storage.models import AuditEventRecord, CertificateRecord, LicenceRecord, StatusListRecord

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
    assert {c.name for c in result.report.checks} >= {
        "cms.signature",
        "signer.path",
        "signer.leaf.extended_key_usage",
        "status_list.freshness",
        "status_list.issuer",
    }
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
    assert set(doc) == {
        "format",
        "issuer",
        "region",
        "sequence",
        "issued_at",
        "next_update",
        "size",
        "revocation",
        "suspension",
    }
    assert doc["issuer"] == {"uscc": DEPT, "name": "江苏省市场监督管理局"} and doc["size"] == BLOCK_BITS
    raw = _raw_bits(doc["revocation"])
    assert len(raw) * 8 == BLOCK_BITS
    i = doomed.status_index
    assert raw[i // 8] == 0x80 >> (i % 8) and sum(bin(b).count("1") for b in raw) == 1
    assert not any(_raw_bits(doc["suspension"]))
    with service.db.reader() as s:
        events = (
            s.execute(select(AuditEventRecord).where(AuditEventRecord.action == "status_list.issue")).scalars().all()
        )
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
    v2 = change_licence(
        service, v1.identifier, principal_or_actor=ISSUER, fields={"domicile": "南京市鼓楼区1号"}, timestamp=False
    )
    v3 = renew_licence(
        service, v2.identifier, principal_or_actor=ISSUER, valid_until=dt.date(2045, 1, 1), timestamp=False
    )
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
    changed = encoded[:middle] + (b"A" if encoded[middle : middle + 1] != b"A" else b"B") + encoded[middle + 1 :]
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
    der = sign_cms(
        content,
        signer=service.keystore.signer(row.key_ref),
        signer_cert=row.der,
        detached=False,
        content_type=STATUS_LIST_CONTENT_TYPE,
    )
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
    for bad, size in (
        (encoded[1:], BLOCK_BITS),
        (encoded, 2 * BLOCK_BITS),
        ("u!!!", BLOCK_BITS),
        ("u" + base64.urlsafe_b64encode(gzip.compress(bytes(10**7))).decode(), BLOCK_BITS),
    ):
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


# -- publishing on change: the stored newest list is right without anyone asking -----------------


def _newest(service, now: dt.datetime | None = None):
    """The issuer's newest *stored* list, verified (what offline verifiers on this host read)."""
    with service.db.reader() as s:
        body = s.execute(select(StatusListRecord.body).order_by(StatusListRecord.sequence.desc()).limit(1)).scalar_one()
    checked = _verified(service, body, issuer=DEPT, now=now)
    assert checked.trusted, checked.report.as_dict()
    return checked.status_list


def test_issuance_is_covered_by_the_stored_list_without_a_new_signature(service, seal) -> None:
    first = _issue(service)  # the issuer's first licence publishes its first list
    assert _list_count(service) == 1 and _newest(service).status_of(first.status_index) == "active"
    newcomers = [_issue(service) for _ in range(3)]
    assert _list_count(service) == 1  # no signature per issuance
    listed = _newest(service)
    assert listed.size == BLOCK_BITS and listed.sequence == 1
    assert all(listed.status_of(row.status_index) == "active" for row in newcomers)
    # crossing a block publishes a bigger list in the issuing transaction, once
    with service.db.transaction() as s:  # as if 131,071 licences had been issued since
        s.execute(update(LicenceRecord).where(LicenceRecord.id == newcomers[-1].id).values(status_index=BLOCK_BITS - 1))
    crossing = _issue(service)
    assert crossing.status_index == BLOCK_BITS and _list_count(service) == 2
    grown = _newest(service)
    assert grown.size == 2 * BLOCK_BITS and grown.status_of(BLOCK_BITS) == "active"
    _issue(service)
    assert _list_count(service) == 2


def test_every_status_change_publishes_the_new_list_at_once(service, seal) -> None:
    row, other = _issue(service), _issue(service)
    count = _list_count(service)

    def newest_says(index: int, status: str) -> None:
        nonlocal count
        count += 1
        assert _list_count(service) == count  # exactly one new list per change, no GET made
        assert _newest(service).status_of(index) == status

    suspend_licence(service, row.identifier, principal_or_actor=ISSUER, reason="核查中")
    newest_says(row.status_index, "suspended")
    reinstate_licence(service, row.identifier, principal_or_actor=ISSUER)
    newest_says(row.status_index, "active")
    v2 = change_licence(
        service, row.identifier, principal_or_actor=ISSUER, fields={"domicile": "南京市鼓楼区1号"}, timestamp=False
    )
    newest_says(row.status_index, "revoked")
    assert _newest(service).status_of(v2.status_index) == "active"
    v3 = renew_licence(
        service, v2.identifier, principal_or_actor=ISSUER, valid_until=dt.date(2045, 1, 1), timestamp=False
    )
    newest_says(v2.status_index, "revoked")
    revoke_licence(service, other.identifier, principal_or_actor=ISSUER, reason="吊销")
    newest_says(other.status_index, "revoked")
    listed = _newest(service)
    assert listed.indexes("revocation") == sorted((row.status_index, v2.status_index, other.status_index))
    assert listed.status_of(v3.status_index) == "active" and listed.indexes("suspension") == []
    # a refused change publishes nothing
    with pytest.raises(ConflictError):
        revoke_licence(service, other.identifier, principal_or_actor=ISSUER, reason="again")
    assert _list_count(service) == count
    # the GET path serves what was published, without signing again
    assert current_status_list(service, DEPT).sequence == listed.sequence and _list_count(service) == count
    with service.db.reader() as s:
        assert verify_chain(s).ok


def test_offline_verification_on_the_issuing_host_follows_at_once(service, service_env, seal) -> None:
    """`trustsvc verify CODE` reads this host's stored material: PASSED right after issuance,
    FAILED / REVOKED right after revocation, with no status list ever fetched."""
    from click.testing import CliRunner

    from trustsvc.cli import cli
    from trustsvc.codes.service import static_code_text

    def verify(text: str, exit_code: int) -> dict:
        result = CliRunner().invoke(cli, ["verify", text, "--json"], env=service_env)
        assert result.exit_code == exit_code, (result.output, result.exception)
        return json.loads(result.output)

    first, second = _issue(service), _issue(service)
    for row in (first, second):
        report = verify(static_code_text(service, row.identifier), 0)
        assert report["indication"] == "PASSED" and report["status_now"]["licence"]["status"] == "active"
    revoke_licence(service, second.identifier, principal_or_actor=ISSUER, reason="吊销")
    revoked = verify(static_code_text(service, second.identifier), 1)
    assert (revoked["indication"], revoked["sub_indication"]) == ("FAILED", "REVOKED")
    assert revoked["status_now"]["licence"]["status"] == "revoked"
    assert verify(static_code_text(service, first.identifier), 0)["indication"] == "PASSED"


def test_concurrent_revocations_of_one_issuer_all_reach_the_newest_list(service, seal) -> None:
    rows = [_issue(service) for _ in range(6)]
    start = threading.Barrier(len(rows))

    def revoke(row: LicenceRecord) -> None:
        start.wait()
        revoke_licence(service, row.identifier, principal_or_actor=ISSUER, reason="吊销")

    with ThreadPoolExecutor(len(rows)) as pool:
        list(pool.map(revoke, rows))
    assert _newest(service).indexes("revocation") == sorted(r.status_index for r in rows)
    with service.db.reader() as s:
        sequences = s.execute(select(StatusListRecord.sequence).order_by(StatusListRecord.sequence)).scalars().all()
    assert sequences == list(range(1, len(rows) + 2))  # the first issuance's list, then one per revocation


def test_due_lists_are_re_signed_in_the_background(service, seal) -> None:
    row = _issue(service)
    assert publish_due_status_lists(service) == []  # fresh: nothing to do
    first = current_status_list(service, DEPT)
    later = first.refresh_at + dt.timedelta(seconds=1)
    assert publish_due_status_lists(service, now=later) == [DEPT]
    assert publish_due_status_lists(service, now=later) == []
    assert _newest(service, later).sequence == first.sequence + 1
    # a change that reached the records without publishing is caught by the start-up sweep
    with service.db.transaction() as s:
        s.execute(update(LicenceRecord).where(LicenceRecord.id == row.id).values(status="revoked"))
        record(
            s,
            AuditEvent(
                actor="test", action="licence.revoke", object_type="licence", object_id=row.identifier, details={}
            ),
        )
    assert publish_due_status_lists(service) == []
    assert publish_due_status_lists(service, check_changes=True) == [DEPT]
    assert _newest(service).status_of(row.status_index) == "revoked"
    # the serve task publishes a missing list by itself
    with service.db.transaction() as s:
        s.execute(delete(StatusListRecord))
    publisher = StatusListPublisher(service, interval=0.05)
    publisher.start()
    try:
        for _ in range(200):
            if _list_count(service):
                break
            time.sleep(0.05)
    finally:
        publisher.stop()
        publisher.join(5)
    assert _newest(service).status_of(row.status_index) == "revoked"
