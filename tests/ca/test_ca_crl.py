"""CRLs: build, print with OpenSSL, verify, reject tampering, answer revocation checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import hsm
from ca import (
    CAError,
    CRLError,
    CRLRevocationChecker,
    RevokedEntry,
    SubjectSpec,
    build_crl,
    parse_crl,
    verify_crl,
)

THIS_UPDATE = datetime(2026, 11, 1, tzinfo=UTC)
NEXT_UPDATE = THIS_UPDATE + timedelta(days=7)
REVOKED = (
    RevokedEntry(0x1234, datetime(2026, 10, 30, 8, 0, tzinfo=UTC), "key_compromise"),
    RevokedEntry(0xABCDEF, datetime(2026, 10, 31, 9, 30, tzinfo=UTC), "cessation_of_operation"),
    RevokedEntry(0x42, datetime(2026, 10, 29, tzinfo=UTC)),  # unspecified: no reasonCode
)


@pytest.fixture(scope="module")
def crl_der(pki):
    return build_crl(
        issuer_cert=pki.issuing.der,
        issuer_signer=pki.issuing.signer,
        revoked=REVOKED,
        crl_number=17,
        this_update=THIS_UPDATE,
        next_update=NEXT_UPDATE,
    )


def test_openssl_prints_crl_with_reasons(pki, crl_der, run_openssl):
    path = pki.directory / "dept.crl"
    path.write_bytes(crl_der)
    text = run_openssl("crl", "-inform", "DER", "-in", path, "-text", "-noout", "-nameopt", "utf8").stdout
    assert "Version 2 (0x1)" in text
    assert "Signature Algorithm: SM2-with-SM3" in text
    assert "Issuer: C=CN, ST=江苏省, O=江苏省市场监督管理局" in text
    assert text.split("X509v3 CRL Number:")[1].splitlines()[1].strip() == "17"
    assert "X509v3 Authority Key Identifier" in text
    assert "Serial Number: 1234" in text and "Serial Number: ABCDEF" in text
    assert "Key Compromise" in text and "Cessation Of Operation" in text
    assert text.count("X509v3 CRL Reason Code") == 2


def test_openssl_verifies_crl_signature(pki, crl_der, run_openssl):
    crl_path = pki.directory / "dept2.crl"
    crl_path.write_bytes(crl_der)
    pub = pki.directory / "issuing.pub.pem"
    pub.write_text(run_openssl("x509", "-in", pki.write("issuing", pki.issuing.der), "-pubkey", "-noout").stdout)
    parsed = parse_crl(crl_der)
    (pki.directory / "crl.tbs").write_bytes(parsed.tbs_der)
    (pki.directory / "crl.sig").write_bytes(parsed.signature)
    out = run_openssl(
        "pkeyutl",
        "-verify",
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        "distid:1234567812345678",
        "-pubin",
        "-inkey",
        pub,
        "-in",
        pki.directory / "crl.tbs",
        "-sigfile",
        pki.directory / "crl.sig",
    )
    assert "Signature Verified Successfully" in out.stdout


def test_verify_accepts_and_reads(pki, crl_der):
    crl = verify_crl(crl_der, pki.issuing.der)
    assert crl.crl_number == 17
    assert crl.aki == pki.issuing.cert.ski
    assert crl.this_update == THIS_UPDATE and crl.next_update == NEXT_UPDATE
    assert crl.issuer_str == pki.issuing.cert.subject_str
    assert [e.serial for e in crl.entries] == [0x42, 0x1234, 0xABCDEF]
    assert crl.entry_for(0x1234) == REVOKED[0]
    assert crl.entry_for(0x42).reason == "unspecified"
    assert crl.entry_for(7) is None
    assert not crl.is_delta and not crl.has_unhandled_critical_extension


def test_pem_crl(pki, crl_der):
    import base64

    pem = b"-----BEGIN X509 CRL-----\n" + base64.encodebytes(crl_der) + b"-----END X509 CRL-----\n"
    assert verify_crl(pem, pki.issuing.cert).der == crl_der


def test_flipped_byte_fails(pki, crl_der):
    where = crl_der.index(bytes.fromhex("abcdef"))  # inside the second serial number
    tampered = bytearray(crl_der)
    tampered[where] ^= 0x01
    with pytest.raises(hsm.InvalidSignature):
        verify_crl(bytes(tampered), pki.issuing.der)
    sig_tampered = bytearray(crl_der)
    sig_tampered[-5] ^= 0x01  # inside s
    with pytest.raises(hsm.InvalidSignature):
        verify_crl(bytes(sig_tampered), pki.issuing.der)


def test_wrong_issuer_rejected(pki, crl_der):
    with pytest.raises(CRLError) as err:
        verify_crl(crl_der, pki.root.der)
    assert err.value.code == "crl_issuer_mismatch"


def test_garbage_rejected(pki):
    for junk in (b"", b"\x30\x00", b"not a crl", b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"):
        with pytest.raises(CRLError):
            verify_crl(junk, pki.issuing.der)


def test_empty_crl_has_no_revoked_list(pki, run_openssl):
    der = build_crl(
        issuer_cert=pki.root.der,
        issuer_signer=pki.root.signer,
        revoked=[],
        crl_number=1,
        this_update=THIS_UPDATE,
        next_update=NEXT_UPDATE,
    )
    crl = verify_crl(der, pki.root.der)
    assert crl.entries == ()
    (pki.directory / "empty.crl").write_bytes(der)
    assert (
        "No Revoked Certificates"
        in run_openssl("crl", "-inform", "DER", "-in", pki.directory / "empty.crl", "-text", "-noout").stdout
    )


def test_build_refusals(pki):
    args = {"revoked": [], "crl_number": 1, "this_update": THIS_UPDATE, "next_update": NEXT_UPDATE}
    with pytest.raises(CAError) as err:
        build_crl(issuer_cert=pki.leaves["signer"].der, issuer_signer=pki.leaves["signer"].signer, **args)
    assert err.value.code == "issuer_not_ca"
    with pytest.raises(CAError) as err:
        build_crl(issuer_cert=pki.issuing.der, issuer_signer=pki.root.signer, **args)
    assert err.value.code == "issuer_key_mismatch"
    with pytest.raises(CAError) as err:
        build_crl(issuer_cert=pki.issuing.der, issuer_signer=pki.issuing.signer, **{**args, "crl_number": -1})
    assert err.value.code == "bad_crl_number"
    with pytest.raises(CAError) as err:
        build_crl(issuer_cert=pki.issuing.der, issuer_signer=pki.issuing.signer, **{**args, "next_update": THIS_UPDATE})
    assert err.value.code == "empty_validity"
    with pytest.raises(ValueError):
        RevokedEntry(1, THIS_UPDATE, "because")


def test_checker_statuses(pki, crl_der):
    checker = CRLRevocationChecker([crl_der])
    leaf = pki.leaves["signer"].cert
    revoked_leaf = pki.issue("signer", SubjectSpec("已吊销"), pki.issuing, serial=0x1234).cert
    status = checker.check(revoked_leaf, pki.issuing.cert, THIS_UPDATE)
    assert status.status == "revoked" and status.reason == "key_compromise"
    assert status.revoked_by(THIS_UPDATE) and not status.revoked_by(REVOKED[0].revoked_at - timedelta(seconds=1))
    assert "CRL #17" in status.source
    assert checker.check(leaf, pki.issuing.cert, THIS_UPDATE).status == "good"
    stale = checker.check(leaf, pki.issuing.cert, NEXT_UPDATE + timedelta(days=1))
    assert stale.status == "unknown" and "stale" in stale.source
    assert checker.check(leaf, pki.root.cert, THIS_UPDATE).status == "unknown"  # no CRL from the root


def test_checker_ignores_crl_with_bad_signature(pki, crl_der):
    tampered = bytearray(crl_der)
    tampered[crl_der.index(bytes.fromhex("abcdef"))] ^= 0x01
    checker = CRLRevocationChecker([bytes(tampered)])
    status = checker.check(pki.leaves["signer"].cert, pki.issuing.cert, THIS_UPDATE)
    assert status.status == "unknown"
    assert "rejected" in status.source


def test_checker_prefers_newest_crl(pki, crl_der):
    newer = build_crl(
        issuer_cert=pki.issuing.der,
        issuer_signer=pki.issuing.signer,
        revoked=[*REVOKED, RevokedEntry(0x99, THIS_UPDATE + timedelta(days=1), "superseded")],
        crl_number=18,
        this_update=THIS_UPDATE + timedelta(days=2),
        next_update=NEXT_UPDATE + timedelta(days=2),
    )
    checker = CRLRevocationChecker([crl_der, newer])
    superseded = pki.issue("signer", SubjectSpec("已更替"), pki.issuing, serial=0x99).cert
    status = checker.check(superseded, pki.issuing.cert, THIS_UPDATE + timedelta(days=3))
    assert status.status == "revoked" and status.reason == "superseded" and "CRL #18" in status.source
