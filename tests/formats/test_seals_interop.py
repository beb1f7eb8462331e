"""One test per interop artifact in ``ses/`` and ``ofd/``: the verdict interop/MANIFEST.md
expects, and the reason for it, checked by name.

About anchors: the ofdrw artifacts chain to ``certs/ofdrw_root.pem``, whose keyUsage is
digitalSignature + nonRepudiation *without keyCertSign* (MANIFEST finding 4). Supplied as the
anchor, the verdict is PASSED with a warning on that key usage: a trust anchor is trusted as
configured and its own certificate's extensions are not path constraints (RFC 5280 §6.1);
OpenSSL's error 32 is its stricter local policy. Every CA *below* an anchor must still have
keyCertSign (tests/ca/test_ca_validate.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import core
from sealkit import read_cert, unzip, zip_files

import hsm
from ca.certs import parse_certificate
from ca.results import Check
from trustsvc.formats.ofd import verify_ofd
from trustsvc.formats.report import VerificationReport
from trustsvc.formats.seals import parse_seal, parse_ses_signature, verify_seal, verify_ses_signature
from trustsvc.formats.seals.asn1 import der_sequence
from trustsvc.formats.trust import TrustContext

NOW = datetime(2026, 10, 1, tzinfo=UTC)
UTC = UTC


# -- helpers ---------------------------------------------------------------------------------
def checks(report: VerificationReport | dict[str, Any]) -> dict[str, str]:
    """name -> result (the last one when a name repeats, e.g. several format warnings)."""
    items = report["checks"] if isinstance(report, dict) else [c.as_dict() for c in report.checks]
    return {c["name"]: c["result"] for c in items}


def detail(report: VerificationReport, name: str) -> str:
    return next(c.detail for c in report.checks if c.name == name)


def assert_crypto_passed(report: VerificationReport | dict[str, Any], *names: str) -> None:
    got = checks(report)
    for name in names:
        assert got.get(name) == "passed", f"{name}: {got.get(name)}"


def ses(interop: Path, name: str) -> bytes:
    return (interop / "ses" / name).read_bytes()


def ofd(interop: Path, name: str) -> bytes:
    return (interop / "ofd" / name).read_bytes()


def ofdrw_root(interop: Path) -> TrustContext:
    return TrustContext(anchors=(read_cert(interop, "ofdrw_root.pem"),))


def only_signature(report: VerificationReport) -> dict[str, Any]:
    (sig,) = report.object["signatures"]
    return sig


def reference_results(sig: dict[str, Any]) -> dict[str, str]:
    return {
        c["name"][len("references[") : -1]: c["result"] for c in sig["checks"] if c["name"].startswith("references[")
    }


# -- ses/: seals -----------------------------------------------------------------------------
def test_ofdrw_user_v1_seal(interop: Path) -> None:
    data = ses(interop, "ofdrw_UserV1.esl")
    parsed = parse_seal(data)
    assert parsed.version == "v1" and parsed.header.version == 1 and parsed.name == "OFDRW测试用印章"
    # GM/T 0031-2014: the maker signed SEQUENCE{sealInfo, cert, alg}, not the SealInfo alone.
    maker = parse_certificate(parsed.maker_cert)
    assert parsed.signed_bytes != parsed.seal_info_der
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(maker.spki, parsed.seal_info_der, parsed.signed_value)

    during = verify_seal(data, at=datetime(2021, 1, 1, tzinfo=UTC), now=NOW)
    assert during.indication.value == "INDETERMINATE" and during.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert_crypto_passed(during, "seal.signature", "seal.validity")
    assert "SEQUENCE {sealInfo, cert, signatureAlgorithm}" in detail(during, "seal.signature")
    assert during.status_now["seal.maker"]["expired"] is True

    # Its validity period ended 2022-04-22: any use after that is a failure.
    today = verify_seal(data, now=NOW)
    assert today.indication.value == "FAILED" and today.sub_indication == "EXPIRED"
    assert checks(today)["seal.validity"] == "failed" and checks(today)["seal.signature"] == "passed"

    anchored = verify_seal(data, trust=ofdrw_root(interop), at=datetime(2021, 1, 1, tzinfo=UTC), now=NOW)
    assert anchored.indication.value == "PASSED", anchored.message
    assert checks(anchored)["seal.maker.path[1].key_usage"] == "warning"
    assert_crypto_passed(anchored, "seal.signature", "seal.maker.path[0].signature", "seal.maker.path[1].signature")


def test_ofdrw_user_v4_seal(interop: Path) -> None:
    data = ses(interop, "ofdrw_UserV4.esl")
    parsed = parse_seal(data)
    assert parsed.version == "v4" and parsed.header.version == 4 and parsed.seal_type == 3
    assert parsed.cert_list.type == 1 and len(parsed.cert_list.certs) == 1
    # GB/T 38540: over DER(SES_SealInfo) only; the 2014 SEQUENCE form does not verify.
    assert parsed.signed_bytes == parsed.seal_info_der
    maker = parse_certificate(parsed.maker_cert)
    seq_form = der_sequence(
        (
            parsed.seal_info_der,
            core.OctetString(parsed.maker_cert).dump(),
            core.ObjectIdentifier(parsed.sign_algorithm).dump(),
        )
    )
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(maker.spki, seq_form, parsed.signed_value)

    during = verify_seal(data, at=datetime(2021, 1, 1, tzinfo=UTC), now=NOW)
    assert during.indication.value == "INDETERMINATE" and during.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert_crypto_passed(during, "seal.signature", "seal.validity", "seal.maker.validity")

    today = verify_seal(data, now=NOW)
    assert today.sub_indication == "EXPIRED" and checks(today)["seal.validity"] == "failed"

    anchored = verify_seal(data, trust=ofdrw_root(interop), at=datetime(2021, 1, 1, tzinfo=UTC), now=NOW)
    assert anchored.indication.value == "PASSED", anchored.message
    assert_crypto_passed(anchored, "seal.signature", "seal.maker.path[0].signature", "seal.maker.path[1].signature")


def test_ofdrw_user_v5_seal_maker_expired_at_creation(interop: Path) -> None:
    data = ses(interop, "ofdrw_UserV5.esl")
    parsed = parse_seal(data)
    assert parsed.version == "v5" and parsed.header.version == 5 and parsed.time_stamp is None
    report = verify_seal(data, at=datetime(2026, 5, 1, tzinfo=UTC), now=NOW)
    # Signature fine, seal in its window, but the maker certificate (to 2022-04-21) had
    # expired when the seal was created (2026-04-24): GM/T 0031-2025 judges it then.
    assert report.indication.value == "FAILED" and report.sub_indication == "EXPIRED"
    assert_crypto_passed(report, "seal.signature", "seal.validity")
    assert checks(report)["seal.maker.validity"] == "failed"
    assert "2026-04-24" in detail(report, "seal.maker.validity")
    assert checks(report)["seal.timestamp"] == "skipped"


def test_hebeigede_seal_signature_invalid(interop: Path) -> None:
    data = ses(interop, "hebeigede_SESealData.DER")
    parsed = parse_seal(data)
    assert parsed.version == "v4" and len(parsed.ext_datas) == 3
    assert parsed.cert_list.certs[0] == parsed.cert_list.certs[1]
    assert any("repeats an earlier certList entry" in w for w in parsed.warnings)
    assert any("critical FALSE explicitly" in w for w in parsed.warnings)
    report = verify_seal(data, now=NOW)
    assert report.indication.value == "FAILED" and report.sub_indication == "SIG_CRYPTO_FAILURE"
    assert checks(report)["seal.signature"] == "failed"
    # ... and its maker certificate (2018-01-02..2019-01-02) had expired when it was made.
    assert checks(report)["seal.maker.validity"] == "failed"


def test_dms360_v1_seal(interop: Path) -> None:
    data = ses(interop, "dms360_v1_Seal.esl")
    parsed = parse_seal(data)
    assert parsed.version == "v1" and parsed.header.vid == "dms360.cn" and parsed.es_id == "esID"
    assert parsed.cert_list.certs == (b"1",)  # a 1-byte IA5String, tolerated
    assert any("IA5String, not OCTET STRING" in w for w in parsed.warnings)
    report = verify_seal(data, now=NOW)
    # The maker signature verifies (MANIFEST). The maker certificate is self-signed (no anchor)
    # and its keyUsage is keyCertSign + cRLSign only: a key that may not sign data signed the
    # seal. GM/T 0031-2025 makes wrong key usage an error, so the seal FAILS on that, not on
    # its signature.
    assert checks(report)["seal.signature"] == "passed"
    assert report.sub_indication == "CHAIN_CONSTRAINTS_FAILURE"
    assert checks(report)["seal.maker.key_usage"] == "failed"
    assert checks(report)["seal.maker.path"] == "failed"  # no chain: the self-signed cert is no anchor


# -- ses/: signatures ------------------------------------------------------------------------
def test_ofdrw_signed_value_v4_zero_data_hash(interop: Path) -> None:
    data = ses(interop, "ofdrw_SignedValueV4.dat")
    parsed = parse_ses_signature(data)
    assert parsed.version == "v4" and parsed.data_hash == bytes(32)
    assert parsed.time_info.value == datetime(2020, 10, 12, 11, 14, 3, tzinfo=UTC)
    assert parsed.seal.der == ses(interop, "ofdrw_UserV4.esl")

    report = verify_ses_signature(data, now=NOW)
    assert report.indication.value == "INDETERMINATE" and report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert_crypto_passed(
        report, "signature.value", "signature.cert_list", "seal.signature", "seal.validity", "signer.validity"
    )
    assert checks(report)["signature.data_hash"] == "skipped"
    assert "not supplied" in detail(report, "signature.data_hash")
    assert report.status_now["signer"]["expired"] is True

    # The all-zero mock dataHash matches no document.
    for document in (b"", ses(interop, "baiwang_taxtest_v4_Signature.xml")):
        mismatch = verify_ses_signature(data, original=document, now=NOW)
        assert mismatch.indication.value == "FAILED" and mismatch.sub_indication == "HASH_FAILURE"
        assert checks(mismatch)["signature.value"] == "passed"


def test_dms360_v1_signature_invalid_seal_valid(interop: Path) -> None:
    data = ses(interop, "dms360_v1_SignedValue.dat")
    parsed = parse_ses_signature(data)
    assert parsed.version == "v1"
    assert parsed.time_info.value == datetime(2020, 1, 25, 7, 31, 56, 377000, tzinfo=UTC)
    assert any("non-standard text" in w for w in parsed.warnings)
    assert parsed.seal.der == ses(interop, "dms360_v1_Seal.esl")
    report = verify_ses_signature(data, original=ses(interop, "dms360_v1_Signature.xml"), now=NOW)
    assert report.indication.value == "FAILED" and report.sub_indication == "SIG_CRYPTO_FAILURE"
    got = checks(report)
    assert got["signature.value"] == "failed"
    assert got["signature.data_hash"] == "failed"  # Signature.xml was rewritten after signing
    assert got["seal.signature"] == "passed"  # only the embedded seal verifies


@pytest.mark.parametrize(
    ("stem", "signed_at"),
    [
        ("baiwang_taxtest_v4", datetime(2020, 10, 10, 7, 11, 20, tzinfo=UTC)),
        ("dianju_v4", datetime(2021, 3, 31, 7, 50, 23, tzinfo=UTC)),
    ],
)
def test_real_v4_signatures_with_their_signature_xml(interop: Path, stem: str, signed_at: datetime) -> None:
    report = verify_ses_signature(
        ses(interop, f"{stem}_SignedValue.dat"), original=ses(interop, f"{stem}_Signature.xml"), now=NOW
    )
    # Every cryptographic and time check passes; the tax / JSGXCA roots are not available.
    assert report.indication.value == "INDETERMINATE" and report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert_crypto_passed(
        report,
        "signature.value",
        "signature.cert_list",
        "signature.data_hash",
        "seal.signature",
        "seal.validity",
        "signer.validity",
    )
    assert report.signing_time == signed_at
    assert report.object["property_info"] == "/Doc_0/Signs/Sign_0/Signature.xml"
    assert not report.failed_checks() or {c.name for c in report.failed_checks()} <= {
        "seal.maker.path.build",
        "seal.maker.path",
        "signer.path.build",
        "signer.path",
    }


# -- ofd/ ------------------------------------------------------------------------------------
def test_ofd_baiwang_invoice_valid(interop: Path) -> None:
    report = verify_ofd(ofd(interop, "ofdrw_v4signed_baiwang_invoice.ofd"), now=NOW)
    assert report.indication.value == "INDETERMINATE" and report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    sig = only_signature(report)
    refs = reference_results(sig)
    assert len(refs) == 13 and set(refs.values()) == {"passed"}
    assert_crypto_passed(sig, "references", "ses.signature.value", "ses.signature.data_hash", "ses.seal.signature")
    assert "seal_file" not in checks(sig)  # no Seal.esl in this package


def test_ofd_fapiao_tampered_names_document_xml(interop: Path) -> None:
    report = verify_ofd(ofd(interop, "ofdrw_fapiao_shili_tampered.ofd"), now=NOW)
    assert report.indication.value == "FAILED" and report.sub_indication == "HASH_FAILURE"
    assert "/Doc_0/Document.xml" in report.message
    sig = only_signature(report)
    refs = reference_results(sig)
    assert [p for p, r in refs.items() if r == "failed"] == ["/Doc_0/Document.xml"]
    assert sum(r == "passed" for r in refs.values()) == 12
    assert_crypto_passed(sig, "ses.signature.value", "ses.signature.data_hash", "ses.seal.signature")


def test_ofd_sesv4signdoc_signed_after_seal_expired(interop: Path) -> None:
    data = ofd(interop, "ofdrw_SESV4SignDoc.ofd")
    report = verify_ofd(data, now=NOW)
    assert report.indication.value == "FAILED" and report.sub_indication == "EXPIRED"
    sig = only_signature(report)
    got = checks(sig)
    assert got["ses.seal.validity"] == "failed" and got["ses.signer.validity"] == "failed"
    assert_crypto_passed(
        sig, "references", "seal_file", "ses.signature.value", "ses.signature.data_hash", "ses.seal.signature"
    )
    assert sig["signing_time"].startswith("2026-08-04")
    # With the ofdrw root the expiries are still reported; the first failure is the root's
    # missing keyCertSign (see the module docstring).
    anchored = only_signature(verify_ofd(data, trust=ofdrw_root(interop), now=NOW))
    assert anchored["indication"] == "FAILED" and checks(anchored)["ses.seal.validity"] == "failed"


def test_ofd_digital_sign_needs_the_external_certificate(interop: Path) -> None:
    data = ofd(interop, "ofdrw_DigitalSign.ofd")
    bare = verify_ofd(data, now=NOW)
    assert bare.indication.value == "INDETERMINATE" and bare.sub_indication == "NO_SIGNING_CERTIFICATE_FOUND"
    assert set(reference_results(only_signature(bare)).values()) == {"passed"}

    user = read_cert(interop, "ofdrw_user.pem")
    with_cert = verify_ofd(data, signer_cert=user, now=NOW)
    sig = only_signature(with_cert)
    assert with_cert.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert_crypto_passed(sig, "references", "sign.value", "signer.validity")
    assert len(reference_results(sig)) == 4
    # The same certificate found among the caller's intermediates works too.
    via_context = verify_ofd(data, trust=TrustContext(intermediates=(user,)), now=NOW)
    assert checks(only_signature(via_context))["sign.value"] == "passed"
    # A different certificate explicitly named as the signer: the signature does not verify.
    wrong = verify_ofd(data, signer_cert=read_cert(interop, "ofdrw_sign_cert.pem"), now=NOW)
    assert wrong.indication.value == "FAILED" and wrong.sub_indication == "SIG_CRYPTO_FAILURE"
    anchored = verify_ofd(data, signer_cert=user, trust=ofdrw_root(interop), now=NOW)
    assert anchored.indication.value == "PASSED", anchored.message
    assert checks(only_signature(anchored))["sign.value"] == "passed"


def test_ofd_allprotected(interop: Path) -> None:
    data = ofd(interop, "ofdrw_allprotected.ofd")
    report = verify_ofd(data, now=NOW)
    assert report.indication.value == "INDETERMINATE" and report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    sig = only_signature(report)
    refs = reference_results(sig)
    assert len(refs) == 6 and "/Doc_0/Signs/Signatures.xml" in refs and set(refs.values()) == {"passed"}
    assert_crypto_passed(
        sig, "seal_file", "ses.signature.value", "ses.signature.data_hash", "ses.seal.signature", "ses.seal.validity"
    )
    assert report.object["uncovered"] == []

    anchored = verify_ofd(data, trust=ofdrw_root(interop), now=NOW)
    assert anchored.indication.value == "PASSED", anchored.message
    assert_crypto_passed(
        only_signature(anchored), "ses.signature.value", "ses.seal.signature", "ses.signer.path[0].signature"
    )

    # This signature locked the signature list: appending a signature afterwards breaks it.
    files = unzip(data)
    files["Doc_0/Signs/Signatures.xml"] = files["Doc_0/Signs/Signatures.xml"].replace(
        b"</ofd:Signatures>", b'<ofd:Signature ID="002" BaseLoc="/Doc_0/Signs/Sign_1/Signature.xml"/></ofd:Signatures>'
    )
    appended = verify_ofd(zip_files(files), now=NOW)
    first = appended.object["signatures"][0]
    assert first["sub_indication"] == "HASH_FAILURE"
    assert reference_results(first)["/Doc_0/Signs/Signatures.xml"] == "failed"


def test_ofd_jiangsu_tax_invoice(interop: Path) -> None:
    report = verify_ofd(ofd(interop, "ofdrw_signedFile_jiangsu_tax.ofd"), now=NOW)
    assert report.indication.value == "INDETERMINATE" and report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    sig = only_signature(report)
    assert len(reference_results(sig)) == 13
    assert_crypto_passed(
        sig,
        "references",
        "ses.signature.value",
        "ses.signature.data_hash",
        "ses.seal.signature",
        "ses.seal.validity",
        "ses.signer.validity",
    )
    # createDate (2019-10-11) precedes the maker certificate (from 2019-10-16): noted, and the
    # certificate is judged at the signing time instead, when it was valid.
    assert checks(sig)["ses.seal.created"] == "warning"
    assert checks(sig)["ses.seal.maker.validity"] == "passed"


def test_ofd_draw_param_ref_baiwang(interop: Path) -> None:
    report = verify_ofd(ofd(interop, "ofdrw_draw_param_ref_baiwang.ofd"), now=NOW)
    assert report.indication.value == "INDETERMINATE" and report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    sig = only_signature(report)
    refs = reference_results(sig)
    assert len(refs) == 17 and set(refs.values()) == {"passed"}
    assert_crypto_passed(sig, "seal_file", "ses.signature.value", "ses.signature.data_hash", "ses.seal.signature")
    # SignatureDateTime is local time labelled Z (8 h off timeInfo): not an error.
    assert sig["object"]["signature_datetime"] == "20200305112131Z"
    assert sig["signing_time"] == "2020-03-05T03:21:31Z"


def test_ofd_dianju_nonstandard_paths(interop: Path) -> None:
    report = verify_ofd(ofd(interop, "ofdrw_buguifan_dianju.ofd"), now=NOW)
    assert report.indication.value == "INDETERMINATE" and report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    sig = only_signature(report)
    assert sig["object"]["signed_value"] == "/Doc_0/Signs/Sign_0/SignValue.dat"
    refs = reference_results(sig)
    assert len(refs) == 5 and set(refs.values()) == {"passed"}
    assert_crypto_passed(sig, "signed_value", "ses.signature.value", "ses.signature.data_hash", "ses.seal.signature")
    assert sig["status_now"]["signer"]["expired"] is True  # expired 2021-11-12, valid at signing


def test_ofd_pkcs7_type_sign(interop: Path) -> None:
    data = ofd(interop, "ofdrw_testPathClip_pkcs7.ofd")
    report = verify_ofd(data, now=NOW)
    # GB/T 35275 SignedData needs a CMS verifier (ca.cms) that the OFD verifier has not: without
    # one the signatures are INDETERMINATE, never FAILED; the references are still checked.
    assert report.indication.value == "INDETERMINATE" and report.sub_indication == "TRY_LATER"
    sigs = report.object["signatures"]
    assert [len(reference_results(s)) for s in sigs] == [16, 21]
    for sig in sigs:
        assert set(reference_results(sig).values()) == {"passed"}
        assert sig["object"]["signed_value_format"] == "GB/T 35275 SignedData"

    # The plumbing: what the CMS verifier says decides, and it receives Signature.xml.
    seen: list[bytes] = []

    def good(value: bytes, content: bytes) -> tuple[list[Check], bytes | None, datetime | None]:
        seen.append(content)
        return [Check("message_digest", "passed", "ok")], None, datetime(2022, 11, 16, tzinfo=UTC)

    def bad(value: bytes, content: bytes) -> tuple[list[Check], bytes | None, datetime | None]:
        return [Check("message_digest", "failed", "messageDigest differs")], None, None

    plumbed = verify_ofd(data, cms_verifier=good, now=NOW)
    assert plumbed.sub_indication == "NO_SIGNING_CERTIFICATE_FOUND"
    assert seen[0] == unzip(data)["Doc_0/Signs/Sign_0/Signature.xml"]
    failed = verify_ofd(data, cms_verifier=bad, now=NOW)
    assert failed.indication.value == "FAILED" and failed.sub_indication == "HASH_FAILURE"


def test_ofd_v4_ride_right(interop: Path) -> None:
    report = verify_ofd(ofd(interop, "ofdrw_V4RideRight.ofd"), now=NOW)
    assert report.indication.value == "INDETERMINATE" and report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    sig = only_signature(report)
    refs = reference_results(sig)
    assert len(refs) == 9 and set(refs.values()) == {"passed"}
    assert_crypto_passed(sig, "seal_file", "ses.signature.value", "ses.signature.data_hash", "ses.seal.validity")


def test_ofd_dms360_v1_document(interop: Path) -> None:
    report = verify_ofd(ofd(interop, "ofdrw_n_dms360_v1.ofd"), now=NOW)
    assert report.indication.value == "FAILED" and report.sub_indication == "HASH_FAILURE"
    sig = only_signature(report)
    assert sig["object"]["path"] == "/Doc_0/Signs/Sign_0/Signature.xml"  # listed in /Doc_0/Signatures.xml
    assert sig["object"]["provider"]["Company"] == "dms360.cn"  # Provider as child elements
    refs = reference_results(sig)
    assert len(refs) == 6 and set(refs.values()) == {"failed"}  # 0/6 match
    assert any("1.2.156.10197.1.401.2" in w for w in sig["warnings"])
    got = checks(sig)
    assert got["ses.signature.value"] == "failed" and got["ses.signature.data_hash"] == "failed"
    assert got["ses.seal.signature"] == "passed"  # only the embedded seal verifies


def test_ofd_tongz_keyword_tampered(interop: Path) -> None:
    report = verify_ofd(ofd(interop, "ofdrw_keyword_tongz_tampered.ofd"), now=NOW)
    assert report.indication.value == "FAILED" and report.sub_indication == "HASH_FAILURE"
    tampered = {"/OFD.xml", "/Doc_0/Document.xml", "/Doc_0/Pages/Page_0/Content.xml"}
    seal_sig, sign_sig = report.object["signatures"]
    for sig in (seal_sig, sign_sig):
        assert sig["sub_indication"] == "HASH_FAILURE"
        assert {p for p, r in reference_results(sig).items() if r == "failed"} == tampered
    assert sign_sig["object"]["type"] == "Sign" and sign_sig["object"]["signed_value_format"] == "GB/T 35275 SignedData"
    # The SES signature itself is cryptographically valid (raw r||s, tolerated with a warning).
    # Its signer certificate's issuer carries an x500UniqueIdentifier as UTF8String (X.520 says
    # BIT STRING); ca reads it leniently, so the certificate is judged like any other.
    assert_crypto_passed(
        seal_sig, "ses.signature.value", "ses.signature.data_hash", "ses.seal.signature", "ses.signature.cert_list"
    )
    assert "ses.signer.certificate" not in checks(seal_sig)
    assert any("raw 64-byte r||s" in w for w in seal_sig["warnings"])
