"""Certificate and seal lifecycle through the service (SQLite and PostgreSQL): revoke with an
RFC 5280 reason (CRL, OCSP, trust list and bound seals follow at once), renew with the same or
a new key, re-key a department after a compromise at T (before-T signatures pass with the rule
named, later ones fail), seal suspend / reinstate / revoke judged at signing time, and the
department's default seal chosen rather than the newest."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from alembic import command
from asn1crypto import crl as asn1_crl
from licence_bodies import business_body
from sqlalchemy import select

from ca.ocsp_client import build_ocsp_request, verify_ocsp_response
from trustsvc.apikeys import SystemActor
from trustsvc.certificates import list_certificates, rekey_department, renew_certificate, revoke_certificate
from trustsvc.errors import ConflictError, InvalidInputError
from trustsvc.federation.local_trust import local_trust_context
from trustsvc.federation.trust_lists import current_trust_list
from trustsvc.formats.seals.make import sign_document
from trustsvc.licences.service import get_licence, issue_licence, request_from_json
from trustsvc.ocsp import respond_ocsp
from trustsvc.pki import current_crl
from trustsvc.seal_lifecycle import list_seals, reinstate_seal, revoke_seal, set_default_seal, show_seal, suspend_seal
from trustsvc.sealing import SealRequest, apply_seal, make_department_seal
from trustsvc.storage.models import AuditEventRecord, CertificateRecord, DepartmentDefaultSeal, utcnow
from trustsvc.verify import verify_bytes

DEPT = "11320000MB0000001G"
DOC = "营业执照 a document".encode()


def _cert(service, slug: str) -> CertificateRecord:
    with service.db.reader() as s:
        return s.execute(select(CertificateRecord).where(CertificateRecord.slug == slug)).scalar_one()


def _tick() -> dt.datetime:
    """A new whole second (signing and revocation times have one-second precision)."""
    time.sleep(1.1)
    return utcnow()


def _check(report: Any, name: str) -> Any:
    found = [c for c in report.checks if c.name == name]
    assert found, (name, [c.name for c in report.checks])
    return found[-1]


def _verify(service, signature: bytes) -> Any:
    return verify_bytes(signature, trust=local_trust_context(service.db), original=DOC)


def _forge(service, slug: str, seal_der: bytes) -> bytes:
    """What a thief holding the key signs (with whatever time it likes, no time-stamp)."""
    row = _cert(service, slug)
    return sign_document(
        DOC,
        seal=seal_der,
        signer=service.keystore.signer(row.key_ref),
        signer_cert=row.der,
        property_info="/",
        time=utcnow().replace(microsecond=0),
    )


# -- revoke --------------------------------------------------------------------------------------


def test_revoke_with_a_compromise_time_reaches_crl_ocsp_trust_list_and_seals(service, seal) -> None:
    before = apply_seal(service, seal.esid, DOC, actor="test")
    t = _tick()
    answer = revoke_certificate(service, f"{DEPT}/signer", "keyCompromise", actor="admin:test", compromised_at=t)
    revoked_at = t.replace(microsecond=0)
    signer = _cert(service, f"{DEPT}/signer")
    assert signer.status == "revoked" and signer.revocation_reason == "key_compromise"
    assert signer.revoked_at == revoked_at
    assert answer["seals_revoked"] == [seal.esid] and answer["crls"] == [{"issuer": DEPT, "signed": True}]
    assert answer["trust_list"]["published"] is True
    # CRL: the entry, dated T
    entries = asn1_crl.CertificateList.load(current_crl(service, DEPT))["tbs_cert_list"]["revoked_certificates"]
    assert [(e["user_certificate"].native, e["revocation_date"].native) for e in entries] == [
        (int(signer.serial_hex, 16), revoked_at)
    ]
    # OCSP: answered from the records at once
    ca = _cert(service, DEPT)
    ocsp = verify_ocsp_response(
        respond_ocsp(service, build_ocsp_request(signer.der, ca.der)), issuer_cert=ca.der, cert=signer.der
    )
    assert ocsp.status == "revoked" and ocsp.reason == "key_compromise" and ocsp.revoked_at == revoked_at
    # the trust list: the revocation and the seal's history
    tl = current_trust_list(service).trust_list
    assert tl.sequence == answer["trust_list"]["sequence"]
    assert [(r.sha256, r.revoked_at, r.reason) for r in tl.revoked] == [(signer.sha256, revoked_at, "key_compromise")]
    published = tl.issuer(DEPT).seals
    assert [(s.esid, s.status, [c.status for c in s.changes]) for s in published] == [
        (seal.esid, "revoked", ["revoked"])
    ]
    assert show_seal(service, seal.esid)["changes"][0]["effective_at"] == revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    # the time-stamped signature from before T still verifies, saying why
    report = _verify(service, before.signature)
    assert report.passed, report.as_dict()
    assert _check(report, "signer.revocation_rule").detail.startswith("rule poe_before_compromise")
    assert _check(report, "seal.status").detail.startswith("rule poe_before_seal_stopped")
    with service.db.reader() as s:
        actions = [r.action for r in s.execute(select(AuditEventRecord).order_by(AuditEventRecord.seq)).scalars()]
    assert "certificate.revoke" in actions and "seal.revoke" in actions


def test_revoke_refusals(service, seal) -> None:
    with pytest.raises(InvalidInputError) as err:
        revoke_certificate(service, "root", "keyCompromise", actor="test")
    assert err.value.code == "cannot_revoke_root"
    with pytest.raises(InvalidInputError) as err:
        revoke_certificate(service, "tsa", "certificateHold", actor="test")
    assert err.value.code == "invalid_revocation_reason"
    with pytest.raises(InvalidInputError) as err:  # a past time is for compromises only
        revoke_certificate(service, "tsa", "superseded", actor="test", compromised_at=utcnow() - dt.timedelta(days=1))
    assert err.value.code == "compromise_time_not_allowed"
    with pytest.raises(InvalidInputError) as err:
        revoke_certificate(
            service, "tsa", "keyCompromise", actor="test", compromised_at=utcnow() + dt.timedelta(days=1)
        )
    assert err.value.code == "invalid_compromise_time"
    revoke_certificate(service, _cert(service, "ocsp").serial_hex, "cessation-of-operation", actor="test")
    with pytest.raises(ConflictError) as conflict:
        revoke_certificate(service, "ocsp", "superseded", actor="test")
    assert conflict.value.code == "certificate_already_revoked"


# -- renew ---------------------------------------------------------------------------------------


def test_renewing_the_signer_over_the_same_key_remakes_its_seals(service, seal) -> None:
    old = apply_seal(service, seal.esid, DOC, actor="test")
    before = _cert(service, f"{DEPT}/signer")
    answer = renew_certificate(service, f"{DEPT}/signer", new_key=False, actor="test")
    after = _cert(service, f"{DEPT}/signer")
    assert after.serial_hex != before.serial_hex and after.key_ref == before.key_ref
    assert answer["replaced"]["slug"] == f"{DEPT}/signer@{before.serial_hex}" and answer["replaced"]["status"] == "good"
    [remade] = answer["seals_remade"]
    assert remade["old"] == seal.esid and show_seal(service, seal.esid)["status"] == "superseded"
    assert show_seal(service, remade["new"])["default"] is True
    # licences are sealed with the re-made seal, and what the old one signed still verifies
    row = issue_licence(
        service,
        request_from_json(business_body()),
        principal_or_actor=SystemActor("test"),
        department_uscc=DEPT,
        timestamp=False,
    )
    assert row.seal_esid == remade["new"]
    report = _verify(service, old.signature)
    assert report.passed and _check(report, "seal.status").detail.startswith("rule seal_superseded"), report.as_dict()
    assert _verify(service, apply_seal(service, remade["new"], DOC, actor="test").signature).passed


def test_renewing_a_service_certificate_with_a_new_key(service, seal) -> None:
    old = _cert(service, "tsa")
    answer = renew_certificate(service, "tsa", new_key=True, actor="test")
    new = _cert(service, "tsa")
    assert new.key_ref != old.key_ref and answer["replaced"]["status"] == "revoked"
    assert answer["replaced"]["revocation_reason"] == "superseded" and answer["crls"][0]["issuer"] == "services"
    stamped = apply_seal(service, seal.esid, DOC, actor="test")  # stamped by the new TSA
    assert new.der in stamped.signature and old.der not in stamped.signature
    assert _verify(service, stamped.signature).passed


def test_renewal_refusals_and_the_expiring_list(service) -> None:
    with pytest.raises(ConflictError) as err:
        renew_certificate(service, "trust-list-signer", new_key=True, actor="test")
    assert err.value.code == "use_trust_list_rotation"
    with pytest.raises(InvalidInputError) as bad:
        renew_certificate(service, DEPT, new_key=False, actor="test")
    assert bad.value.code == "not_renewable"
    soon = list_certificates(service, expiring_within_days=800)  # the 2-year service certificates
    assert "code-signer" in {c["slug"] for c in soon} and "root" not in {c["slug"] for c in soon}
    assert all(c["usable"] and c["days_left"] <= 800 for c in soon)
    renew_certificate(service, "code-signer", new_key=False, actor="test")
    listed = current_trust_list(service).trust_list.code_signers
    assert sorted(c.state for c in listed) == ["current", "retired"]  # codes already printed keep verifying


# -- re-key ----------------------------------------------------------------------------------------


def test_rekey_after_a_compromise_at_t(service, seal) -> None:
    early = apply_seal(service, seal.esid, DOC, actor="test")
    licence_before = issue_licence(
        service, request_from_json(business_body()), principal_or_actor=SystemActor("test"), department_uscc=DEPT
    )
    t = _tick()
    _tick()
    licence_after = issue_licence(
        service, request_from_json(business_body()), principal_or_actor=SystemActor("test"), department_uscc=DEPT
    )  # sealed with the key the thief holds too
    late = apply_seal(service, seal.esid, DOC, actor="test")
    old_signer = _cert(service, f"{DEPT}/signer")
    answer = rekey_department(service, DEPT, compromised_at=t, actor="admin:test")
    new_signer = _cert(service, f"{DEPT}/signer")
    assert new_signer.key_ref != old_signer.key_ref
    revoked = {c["profile"]: c for c in answer["revoked"]}
    assert revoked["signer"]["revocation_reason"] == "key_compromise"
    assert revoked["signer"]["revoked_at"] == t.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert revoked["seal_maker"]["revocation_reason"] == "superseded"
    [remade] = answer["seals"]
    assert remade["old"] == seal.esid and show_seal(service, remade["new"])["default"] is True
    # licences sealed with the old key since T are re-issued as new versions; earlier ones stay
    assert [r["old"] for r in answer["licences_reissued"]] == [licence_after.identifier]
    assert get_licence(service, licence_after.identifier).status == "superseded"
    assert get_licence(service, licence_before.identifier).status == "active"
    reissued = get_licence(service, answer["licences_reissued"][0]["new"])
    assert reissued.seal_esid == remade["new"]
    # verdicts, each naming its rule
    report = _verify(service, early.signature)
    assert report.passed, report.as_dict()
    assert _check(report, "signer.revocation_rule").detail.startswith("rule poe_before_compromise")
    for signature in (late.signature, _forge(service, f"{DEPT}/signer@{old_signer.serial_hex}", seal.der)):
        report = _verify(service, signature)
        assert report.indication.value == "FAILED" and report.sub_indication == "REVOKED", report.as_dict()
    report = _verify(service, apply_seal(service, remade["new"], DOC, actor="test").signature)
    assert report.passed and not report.warnings, report.as_dict()


# -- seals ----------------------------------------------------------------------------------------


def test_seal_suspend_reinstate_revoke_judged_at_signing_time(service, seal) -> None:
    before = apply_seal(service, seal.esid, DOC, actor="test")
    _tick()
    shown = suspend_seal(service, seal.esid, reason="印章挂失", actor="test")
    assert shown["status"] == "suspended" and shown["trust_list"]["published"] is True
    _tick()
    while_suspended = _forge(service, f"{DEPT}/signer", seal.der)
    _tick()
    reinstate_seal(service, seal.esid, reason="找回", actor="test")
    after = apply_seal(service, seal.esid, DOC, actor="test")
    report = _verify(service, while_suspended)
    assert report.indication.value == "FAILED" and report.sub_indication == "REVOKED"
    assert _check(report, "seal.status").detail.startswith("rule seal_stopped_at_signing_time")
    assert _verify(service, after.signature).passed
    report = _verify(service, before.signature)  # suspended only later, and a time-stamp proves it came first
    assert report.passed and _check(report, "seal.status").detail.startswith("rule poe_before_seal_stopped")
    revoke_seal(service, seal.esid, reason="注销", actor="test")
    with pytest.raises(ConflictError) as err:
        reinstate_seal(service, seal.esid, reason=None, actor="test")
    assert err.value.code == "invalid_seal_transition"
    with pytest.raises(InvalidInputError):
        suspend_seal(service, seal.esid, reason="  ", actor="test")
    assert [c["status"] for c in show_seal(service, seal.esid)["changes"]] == ["suspended", "active", "revoked"]


def test_the_default_seal_is_chosen_not_the_newest(service, seal) -> None:
    newer = make_department_seal(service, SealRequest(DEPT, "合同专用章"), actor="test")
    row = issue_licence(
        service,
        request_from_json(business_body()),
        principal_or_actor=SystemActor("test"),
        department_uscc=DEPT,
        timestamp=False,
    )
    assert row.seal_esid == seal.esid  # the first seal stays the default
    assert set_default_seal(service, DEPT, newer.esid, actor="test")["default"] is True
    row = issue_licence(
        service,
        request_from_json(business_body()),
        principal_or_actor=SystemActor("test"),
        department_uscc=DEPT,
        timestamp=False,
    )
    assert row.seal_esid == newer.esid
    assert [s["default"] for s in list_seals(service, department=DEPT)] == [False, True]
    revoke_seal(service, newer.esid, reason="注销", actor="test")  # no silent fallback to another seal
    with pytest.raises(ConflictError) as err:
        issue_licence(
            service,
            request_from_json(business_body()),
            principal_or_actor=SystemActor("test"),
            department_uscc=DEPT,
            timestamp=False,
        )
    assert err.value.code == "seal_revoked"


def test_the_migration_keeps_the_newest_active_seal_as_the_default(service, seal) -> None:
    newer = make_department_seal(service, SealRequest(DEPT, "合同专用章"), actor="test")
    with service.db.write_engine.begin() as conn:
        command.downgrade(service.db._alembic(conn), "0010_holder_codes")
        command.upgrade(service.db._alembic(conn), "head")
    with service.db.reader() as s:
        [chosen] = s.execute(select(DepartmentDefaultSeal)).scalars().all()
        assert chosen.seal_id == newer.id and chosen.chosen_by == "migration"
