"""Department seals through the service on SQLite and PostgreSQL: made, stored, applied with a
time-stamp, verified against the region's own trust, audited; scope and revocation respected."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from trustsvc import pki
from trustsvc.audit import verify_chain
from trustsvc.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from trustsvc.federation.local_trust import local_trust_context
from trustsvc.formats.seals.make import sign_document
from trustsvc.sealing import SealRequest, apply_seal, make_department_seal
from trustsvc.storage import AuditEventRecord, CertificateRecord, utcnow
from trustsvc.verify import verify_bytes

DEPT = "11320000MB0000001G"
DOC = "营业执照 江苏某某科技有限公司 统一社会信用代码 91350100M000100Y43".encode()


def test_a_made_seal_verifies_under_the_region_root(service, seal) -> None:
    assert seal.esid == "32000000000001"
    report = verify_bytes(seal.der, trust=local_trust_context(service.db))
    assert report.indication.value == "PASSED", report.as_dict()
    assert report.object["kind"] == "ses_seal" and report.object["seal_name"] == "江苏省市场监督管理局"
    assert report.trust_path and report.trust_path[-1].get("region") == "320000"


def test_applied_seal_is_timestamped_and_verifies_over_the_document(service, seal) -> None:
    applied = apply_seal(service, seal.esid, DOC, actor="test", property_info="/licence/1")
    assert applied.timestamped
    trust = local_trust_context(service.db)
    report = verify_bytes(applied.signature, trust=trust, original=DOC)
    assert report.indication.value == "PASSED", report.as_dict()
    names = {c.name: c.result for c in report.checks}
    assert any(
        n.startswith(("timestamp", "signature.timestamp")) or "time_stamp" in n
        for n, r in names.items()
        if r == "passed"
    ), names
    assert report.signing_time is not None

    tampered = verify_bytes(applied.signature, trust=trust, original=DOC + b" ")
    assert tampered.indication.value == "FAILED" and tampered.sub_indication == "HASH_FAILURE"


def test_revocation_is_judged_at_signing_time(service, seal) -> None:
    # signing times have whole-second precision: keep each step in its own second
    stamped = apply_seal(service, seal.esid, DOC, actor="test")  # a time-stamp proves when
    claimed = apply_seal(service, seal.esid, DOC, actor="test", timestamp=False)  # the signer's word only
    time.sleep(1.1)
    pki.revoke_certificate(service, f"{DEPT}/signer", "key_compromise", actor="test")
    time.sleep(1.1)
    with pytest.raises(ConflictError) as refused:  # the service never signs with a revoked key...
        apply_seal(service, seal.esid, DOC, actor="test", timestamp=False)
    assert refused.value.code == "signer_certificate_revoked"
    with service.db.reader() as s:  # ...but whoever stole it does
        signer = s.execute(select(CertificateRecord).where(CertificateRecord.slug == f"{DEPT}/signer")).scalar_one()
    forged = sign_document(
        DOC,
        seal=seal.der,
        signer=service.keystore.signer(signer.key_ref),
        signer_cert=signer.der,
        property_info="/",
        time=utcnow().replace(microsecond=0),
    )
    trust = local_trust_context(service.db)
    late = verify_bytes(forged, trust=trust, original=DOC)
    assert late.indication.value == "FAILED" and late.sub_indication == "REVOKED", late.as_dict()
    assert _rule(late, "signer.revocation_rule").startswith("rule signed_after_revocation")
    early = verify_bytes(stamped.signature, trust=trust, original=DOC)
    assert early.indication.value == "PASSED", early.as_dict()
    assert _rule(early, "signer.revocation_rule").startswith("rule poe_before_compromise")
    assert early.status_now["signer"]["revocation_rule"] == "poe_before_compromise"
    unproven = verify_bytes(claimed.signature, trust=trust, original=DOC)
    assert unproven.indication.value == "INDETERMINATE" and unproven.sub_indication == "REVOKED_NO_POE"
    assert _rule(unproven, "signer.revocation_rule").startswith("rule no_poe_before_compromise")


def _rule(report, name: str) -> str:
    return next(c.detail for c in report.checks if c.name == name)


def test_seal_scope_and_validation(service, seal) -> None:
    with pytest.raises(PermissionDeniedError):
        apply_seal(service, seal.esid, DOC, actor="test", department_uscc="91350100M000100Y43")
    with pytest.raises(NotFoundError):
        apply_seal(service, "99999999999999", DOC, actor="test")
    with pytest.raises(InvalidInputError):
        apply_seal(service, seal.esid, DOC, actor="test", property_info="非ASCII")
    with pytest.raises(InvalidInputError):
        make_department_seal(service, SealRequest(DEPT, ""), actor="test")
    with pytest.raises(NotFoundError):
        make_department_seal(service, SealRequest("91350100M000100Y43", "x"), actor="test")


def test_every_seal_operation_is_an_audited_key_use(service, seal) -> None:
    apply_seal(service, seal.esid, DOC, actor="test")
    with service.db.reader() as s:
        rows = (
            s.execute(
                select(AuditEventRecord)
                .where(AuditEventRecord.action.in_(("seal.make", "seal.apply")))
                .order_by(AuditEventRecord.seq)
            )
            .scalars()
            .all()
        )
        assert [r.action for r in rows] == ["seal.make", "seal.apply"]
        assert all(r.key_ref.startswith("soft:d" + DEPT) for r in rows)
        assert verify_chain(s).ok
