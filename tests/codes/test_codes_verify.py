"""Issuing codes and verifying them online and offline against a real service (SQLite and
PostgreSQL): lifetimes, single use, status, unknown kids, stale material, tampering.

Online is the region verifier with this service's trust snapshot and its online extras (single
use, the audit record of a keyed verification); offline is the same verifier with a snapshot
read from an exported code cache (``trustsvc code cache DIR``), or this machine's database."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from code_example import SIGNER_SCALAR, scalar_signer
from code_helpers import DEPT, business_body, checks_by_name
from sqlalchemy import delete, select

from ca.results import Indication
from trustsvc.apikeys import SystemActor
from trustsvc.audit import verify_chain
from trustsvc.codes.format import CodeClaims, decode_code, sign_code
from trustsvc.codes.material import write_code_cache
from trustsvc.codes.service import make_dynamic_code, static_code, static_code_text
from trustsvc.errors import ConflictError, InvalidInputError
from trustsvc.federation.snapshot import TrustSnapshot, build_snapshot, load_snapshot_cache
from trustsvc.licences.service import change_licence, issue_licence, request_from_json, revoke_licence
from trustsvc.storage.models import AuditEventRecord, ServiceCodeRecord, StatusListRecord, utcnow
from trustsvc.verifier import OnlineCodes, verify_code

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def _verdict(report) -> tuple[str, str | None]:
    return report.indication.value, report.sub_indication


def _snapshot(service) -> TrustSnapshot:
    """This service's trust snapshot as its verify endpoints see it right now."""
    return build_snapshot(service.db, grace=dt.timedelta(days=1))


def _online(service, text, *, actor=None, purpose=None, now=None, snapshot=None):
    """``POST /api/v1/verify`` of a code: anonymous without ``actor``, keyed (audited) with one."""
    return verify_code(
        snapshot or _snapshot(service), text, now=now, online=OnlineCodes(service.db, actor=actor, purpose=purpose)
    )


def _offline(snapshot, text, *, now=None):
    """``trustsvc verify CODE [--cache DIR]``: no database, no single use."""
    return verify_code(snapshot, text, now=now)


def _audit(service, action: str) -> list[AuditEventRecord]:
    with service.db.reader() as s:
        return list(
            s.execute(
                select(AuditEventRecord).where(AuditEventRecord.action == action).order_by(AuditEventRecord.seq)
            ).scalars()
        )


# -- issuing ------------------------------------------------------------------------------------


def test_static_code_is_made_once_and_says_the_licence(service, licence):
    first = static_code(service, licence, principal_or_actor=SystemActor("test"))
    assert static_code(service, licence, principal_or_actor=SystemActor("test")).text == first.text
    assert static_code_text(service, licence) == first.text
    claims = decode_code(first.text).claims
    assert (claims.iss, claims.sub, claims.typ, claims.exp, claims.nonce) == ("320000", licence, "static", None, None)
    assert claims.status_index == 0
    assert claims.display == {
        "n": "营业执照",
        "h": "江苏某某科技有限公司",
        "hid": "91320100********0C",
        "o": "江苏省市场监督管理局",
    }
    events = _audit(service, "code.issue")
    assert len(events) == 1 and events[0].key_ref.endswith("code-signer") and events[0].object_id == licence


def test_static_code_of_a_licence_with_an_end_expires_after_its_last_day(service, seal):
    row = issue_licence(
        service,
        request_from_json(business_body(valid_until="2031-06-30")),
        principal_or_actor=SystemActor("test"),
        department_uscc=DEPT,
        timestamp=False,
    )
    claims = decode_code(static_code(service, row.identifier, principal_or_actor=SystemActor("test")).text).claims
    # the end of 2031-06-30 in China (UTC+8) is 2031-06-30T16:00:00Z
    assert claims.exp == int(dt.datetime(2031, 6, 30, 16, tzinfo=dt.UTC).timestamp())


def test_dynamic_code_lifetime_nonce_and_record(service, licence):
    code = make_dynamic_code(service, licence, principal_or_actor=SystemActor("test"))
    claims = decode_code(code.text).claims
    assert claims.typ == "dynamic" and claims.exp - claims.iat == 120 == service.config.codes.dynamic_ttl
    assert code.expires_at == dt.datetime.fromtimestamp(claims.exp, dt.UTC)
    short = decode_code(make_dynamic_code(service, licence, principal_or_actor=SystemActor("test"), ttl=30).text).claims
    assert short.exp - short.iat == 30 and short.nonce != claims.nonce
    with service.db.reader() as s:
        rows = s.execute(select(ServiceCodeRecord).where(ServiceCodeRecord.kind == "dynamic")).scalars().all()
        assert {r.nonce for r in rows} == {claims.nonce.hex(), short.nonce.hex()}
        assert all(r.used_at is None and r.text is None for r in rows)
    for bad in (0, 29, 901, "60", True):
        with pytest.raises(InvalidInputError) as info:
            make_dynamic_code(service, licence, principal_or_actor=SystemActor("test"), ttl=bad)
        assert info.value.code == "invalid_ttl"


def test_no_dynamic_code_for_a_revoked_licence(service, licence):
    revoke_licence(service, licence, principal_or_actor=SystemActor("test"), reason="test")
    with pytest.raises(ConflictError) as info:
        make_dynamic_code(service, licence, principal_or_actor=SystemActor("test"))
    assert info.value.code == "licence_not_active"


# -- online ---------------------------------------------------------------------------------------


def test_static_code_passes_online_with_minimal_fields(service, licence):
    report = _online(service, static_code_text(service, licence), actor="apikey:v1", purpose="开户")
    assert report.indication is Indication.PASSED, report.message
    assert set(report.object) == {
        "kind",
        "code_type",
        "licence",
        "issuer_region",
        "issued_at",
        "expires_at",
        "display",
        "kid",
        "licence_type",
        "issuer",
        "licence_version",
    }
    assert report.status_now["licence"]["status"] == "active"
    checks = checks_by_name(report)
    assert checks["code.signature"] == checks["code_signer.path"] == checks["licence.status"] == "passed"
    event = _audit(service, "code.verify")[-1]
    assert (event.actor, event.object_id) == ("apikey:v1", licence)
    assert '"purpose":"开户"' in event.details and '"indication":"PASSED"' in event.details


def test_dynamic_code_is_single_use_online(service, licence):
    text = make_dynamic_code(service, licence, principal_or_actor=SystemActor("test")).text
    anonymous = _online(service, text)
    assert anonymous.indication is Indication.PASSED and any("not used up" in w for w in anonymous.warnings)
    first = _online(service, text, actor="apikey:v1", purpose="酒店入住")
    assert first.indication is Indication.PASSED and checks_by_name(first)["code.single_use"] == "passed"
    second = _online(service, text, actor="apikey:v2", purpose="酒店入住")
    assert _verdict(second) == ("FAILED", "ALREADY_USED")
    assert _verdict(_online(service, text)) == ("FAILED", "ALREADY_USED")
    with service.db.reader() as s:
        row = s.execute(select(ServiceCodeRecord).where(ServiceCodeRecord.kind == "dynamic")).scalar_one()
        assert (row.used_by, row.purpose) == ("apikey:v1", "酒店入住")
    details = [e.details for e in _audit(service, "code.verify")]
    assert len(details) == 2 and '"sub_indication":"ALREADY_USED"' in details[1]
    with service.db.reader() as s:
        assert verify_chain(s).ok


def test_concurrent_verifications_of_one_dynamic_code_pass_exactly_once(service, licence):
    for _ in range(3):
        text = make_dynamic_code(service, licence, principal_or_actor=SystemActor("test")).text
        barrier = threading.Barrier(4)
        results: list[str] = []

        def verify(
            n: int, barrier: threading.Barrier = barrier, results: list[str] = results, text: str = text
        ) -> None:
            barrier.wait()
            results.append(_online(service, text, actor=f"apikey:v{n}", purpose="p").indication.value)

        threads = [threading.Thread(target=verify, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == ["FAILED", "FAILED", "FAILED", "PASSED"]


def test_expired_dynamic_code_is_refused_online_and_offline_naming_the_expiry(service, licence):
    code = make_dynamic_code(service, licence, principal_or_actor=SystemActor("test"), ttl=30)
    later = code.expires_at + dt.timedelta(seconds=1)
    expiry = code.expires_at.isoformat().replace("+00:00", "Z")
    online = _online(service, code.text, actor="apikey:v1", purpose="p", now=later)
    assert _verdict(online) == ("FAILED", "EXPIRED") and expiry in online.message
    assert online.object["expires_at"] == expiry
    offline = _offline(_snapshot(service), code.text, now=later)
    assert _verdict(offline) == ("FAILED", "EXPIRED") and expiry in offline.message
    with service.db.reader() as s:  # an expired code is not used up
        assert s.execute(select(ServiceCodeRecord.used_at)).scalar_one() is None


def test_unknown_kid_is_indeterminate(service, licence):
    foreign = scalar_signer(SIGNER_SCALAR, "foreign")
    claims = CodeClaims(iss="320000", sub=licence, typ="static", iat=int(utcnow().timestamp()), exp=None)
    text = sign_code(claims, signer=foreign, cert_der=b"a certificate this service never saw")
    for report in (_online(service, text), _offline(_snapshot(service), text)):
        assert _verdict(report) == ("INDETERMINATE", "NO_SIGNING_CERTIFICATE_FOUND")
        assert report.object == {"kind": "code"}


def test_code_signed_by_a_known_kid_with_another_key_fails(service, licence):
    real = decode_code(static_code_text(service, licence))
    forged = CodeClaims(
        iss="320000", sub=licence, typ="static", iat=real.claims.iat, exp=None, display={"h": "冒名顶替"}
    )
    # the kid is computed from the real certificate, but the key is not its key
    snapshot = _snapshot(service)
    cert = snapshot.namespace_for_kid(real.kid).code_signers[real.kid][0].der
    text = sign_code(forged, signer=scalar_signer(SIGNER_SCALAR, "forger"), cert_der=cert)
    assert _verdict(_online(service, text)) == ("FAILED", "SIG_CRYPTO_FAILURE")


def test_codes_of_a_revoked_or_superseded_licence_fail(service, licence):
    old_text = static_code_text(service, licence)
    newer = change_licence(
        service, licence, principal_or_actor=SystemActor("test"), holder_name="江苏某某软件有限公司", timestamp=False
    )
    assert _verdict(_online(service, old_text)) == ("FAILED", "REVOKED")
    new_text = static_code_text(service, newer.identifier)
    assert new_text != old_text and decode_code(new_text).claims.display["h"] == "江苏某某软件有限公司"
    assert _online(service, new_text).indication is Indication.PASSED
    revoke_licence(service, newer.identifier, principal_or_actor=SystemActor("test"), reason="吊销")
    assert _verdict(_online(service, new_text)) == ("FAILED", "REVOKED")


# -- offline ------------------------------------------------------------------------------------


def test_offline_from_a_cache_directory_reports_freshness(service, licence, tmp_path):
    text = static_code_text(service, licence)
    write_code_cache(service, tmp_path / "cache", lifetime=dt.timedelta(hours=2))
    material = load_snapshot_cache(tmp_path / "cache")
    report = _offline(material, text)
    assert report.indication is Indication.PASSED, report.message
    trust, listing = report.status_now["trust"], report.status_now["status_list"]
    assert trust["source"] == f"cache {tmp_path / 'cache'}" and trust["stale"] is False and trust["region"] == "320000"
    assert listing["issuer"] == DEPT and listing["sequence"] >= 1 and listing["stale"] is False
    status = report.status_now["licence"]
    assert (status["identifier"], status["status"]) == (licence, "active") and "status list" in status["reason"]
    # past next_update, the material and the list are stale: fail closed
    later = utcnow() + dt.timedelta(hours=3)
    stale = _offline(material, text, now=later)
    assert _verdict(stale) == ("INDETERMINATE", "TRUST_LIST_STALE")
    assert stale.status_now["trust"]["stale"] is True and stale.status_now["status_list"]["stale"] is True


def test_offline_without_a_status_list_is_indeterminate(service, licence, tmp_path):
    text = static_code_text(service, licence)
    write_code_cache(service, tmp_path / "cache")
    with service.db.transaction() as s:  # this machine's records lost the issuer's lists
        s.execute(delete(StatusListRecord))
    report = _offline(_snapshot(service), text)
    assert _verdict(report) == ("INDETERMINATE", "TRY_LATER")
    assert "no status list" in report.message
    # a cache without the list: its issuers are those of its lists, so nobody vouches for this one
    for held in (tmp_path / "cache").glob("status*/*"):
        held.unlink()
    report = _offline(load_snapshot_cache(tmp_path / "cache"), text)
    assert _verdict(report) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")


def test_revoked_licence_fails_offline_once_the_status_list_is_refreshed(service, licence, tmp_path):
    text = static_code_text(service, licence)
    write_code_cache(service, tmp_path / "c")
    before = load_snapshot_cache(tmp_path / "c")
    revoke_licence(service, licence, principal_or_actor=SystemActor("test"), reason="吊销")
    # the old list does not know yet (offline is only as fresh as its list)...
    assert _offline(before, text).indication is Indication.PASSED
    write_code_cache(service, tmp_path / "c")
    after = _offline(load_snapshot_cache(tmp_path / "c"), text)
    assert _verdict(after) == ("FAILED", "REVOKED")
    old_sequence = _offline(before, text).status_now["status_list"]["sequence"]
    assert after.status_now["status_list"]["sequence"] > old_sequence


def test_dynamic_code_offline_warns_that_single_use_is_online_only(service, licence, tmp_path):
    write_code_cache(service, tmp_path / "c")
    text = make_dynamic_code(service, licence, principal_or_actor=SystemActor("test")).text
    report = _offline(load_snapshot_cache(tmp_path / "c"), text)
    assert report.indication is Indication.PASSED
    assert checks_by_name(report)["code.single_use"] == "warning"


# -- tampering ----------------------------------------------------------------------------------


def test_changing_any_single_character_fails_and_never_raises(service, licence):
    text = static_code_text(service, licence)
    snapshot = _snapshot(service)
    for i in range(len(text)):
        replacement = BASE45[(BASE45.index(text[i]) + 7) % len(BASE45)] if text[i] in BASE45 else "A"
        for ch in (replacement, "a"):
            if ch == text[i]:
                continue
            tampered = text[:i] + ch + text[i + 1 :]
            report = _online(service, tampered, snapshot=snapshot)
            assert report.indication is Indication.FAILED, (i, ch, report.message)


def test_offline_checks_a_held_status_list_once_and_still_judges_its_freshness(service, licence, tmp_path, monkeypatch):
    """A verifier checks the held list's CMS and chain once, not per code; a later time past the
    list's next_update is judged stale without checking it again."""
    import trustsvc.federation.snapshot as snapshot_module

    calls = []
    real = snapshot_module.verify_status_list
    monkeypatch.setattr(snapshot_module, "verify_status_list", lambda *a, **k: calls.append(1) or real(*a, **k))
    text = static_code_text(service, licence)
    write_code_cache(service, tmp_path / "cache", lifetime=dt.timedelta(hours=2))
    material = load_snapshot_cache(tmp_path / "cache")
    now = utcnow()
    for seconds in (0, 1, 30, 600):
        report = _offline(material, text, now=now + dt.timedelta(seconds=seconds))
        assert report.indication is Indication.PASSED, report.message
    assert len(calls) == 1
    stale = _offline(material, text, now=now + dt.timedelta(hours=3))
    assert _verdict(stale) == ("INDETERMINATE", "TRUST_LIST_STALE") and stale.status_now["status_list"]["stale"]
    assert len(calls) == 1
