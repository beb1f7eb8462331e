"""Trust anchors are trusted by configuration (RFC 5280 §6.1): an anchor's own signature never
fails a path, whether the anchor is a self-signed root or another certificate configured as an
anchor, and an anchor validated against itself PASSES."""

from __future__ import annotations

from datetime import UTC, datetime

from ca import Indication, SubIndication, SubjectSpec, parse_certificate, validate_path

NOW = datetime.now(UTC)


def _with_bad_signature(der: bytes) -> bytes:
    """The same certificate with one byte of its signature flipped (DER stays valid)."""
    cert = parse_certificate(der)
    out = bytearray(cert.der)
    out[cert.der.rindex(cert.signature) + 6] ^= 0x01
    return bytes(out)


def test_self_signed_anchor_with_broken_self_signature_still_anchors(pki) -> None:
    broken_root = _with_bad_signature(pki.root.der)
    leaf = pki.leaves["signer"]
    result = validate_path(leaf.der, intermediates=[pki.issuing.der], anchors=[broken_root], at=NOW)
    assert result.indication is Indication.PASSED, result.message
    anchor_sig = result.check("path[2].signature")
    assert anchor_sig.result == "warning" and "trust anchor" in anchor_sig.detail and "RFC 5280" in anchor_sig.detail
    assert result.check("path[1].signature").result == "passed"  # the links below are still checked
    assert any("does not verify" in w for w in result.warnings)


def test_self_signed_anchor_with_broken_self_signature_as_its_own_anchor(pki) -> None:
    broken_root = _with_bad_signature(pki.root.der)
    result = validate_path(broken_root, anchors=[broken_root], at=NOW)
    assert result.indication is Indication.PASSED, result.message
    assert result.check("path[0].signature").result == "warning"


def test_broken_anchor_makes_no_other_link_lenient(pki) -> None:
    broken_root = _with_bad_signature(pki.root.der)
    result = validate_path(
        _with_bad_signature(pki.leaves["signer"].der), intermediates=[pki.issuing.der], anchors=[broken_root], at=NOW
    )
    assert result.indication is Indication.FAILED
    assert result.sub_indication == SubIndication.SIG_CRYPTO_FAILURE
    assert result.check("path[0].signature").result == "failed"


def test_sound_self_signed_anchor_signature_passes(pki) -> None:
    result = validate_path(pki.root.der, anchors=[pki.root.der], at=NOW)
    assert result.passed and result.check("path[0].signature").result == "passed" and result.warnings == ()


def test_intermediate_as_anchor(pki) -> None:
    """An anchor issued elsewhere: its signature cannot be checked here and is not needed."""
    leaf = pki.leaves["signer"]
    result = validate_path(leaf.der, anchors=[pki.issuing.der], at=NOW)
    assert result.indication is Indication.PASSED, result.message
    assert result.path == (leaf.cert, pki.issuing.cert)
    assert result.check("path[1].signature").result == "skipped"
    itself = validate_path(pki.issuing.der, anchors=[pki.issuing.der], at=NOW)
    assert itself.indication is Indication.PASSED, itself.message
    assert itself.check("path[0].signature").result == "skipped"


def test_non_self_signed_anchor_with_its_issuers_name(pki) -> None:
    """A CA named like its issuer (self-issued, not self-signed: Tongsuo's sm2-cert.pem shape)
    configured as an anchor anchors a path and PASSES against itself."""
    twin = pki.issue(
        "issuing_ca",
        SubjectSpec("江苏省电子证照根CA", organization="江苏省数据局", province="江苏省", locality="南京市"),
        pki.root,
    )
    assert twin.cert.subject_key == pki.root.cert.subject_key and twin.cert.is_self_issued
    leaf = pki.issue("signer", SubjectSpec("twin leaf", organization="测试"), twin)
    result = validate_path(leaf.der, anchors=[twin.der], at=NOW)
    assert result.indication is Indication.PASSED, result.message
    assert result.check("path[0].signature").result == "passed"
    assert result.check("path[1].signature").result == "warning"
    itself = validate_path(twin.der, anchors=[twin.der], at=NOW)
    assert itself.indication is Indication.PASSED, itself.message
