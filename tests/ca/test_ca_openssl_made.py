"""Certificates and files as the ``openssl`` command line makes them, read by ``ca/``.

* PEM with explanatory text before the block (``openssl x509 -text``; RFC 7468 §5.2 says to
  ignore text outside the boundaries) is PEM, not DER.
* OpenSSL 3 signs SM2 with an empty ID unless given ``-sigopt distid:...``: such signatures
  verify (second try after the standard ID) and carry the ``sm2_id_empty`` warning; signatures
  that are wrong under both IDs still fail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import core

import hsm
from ca import (
    CAError,
    CRLRevocationChecker,
    Indication,
    OCSPResponder,
    RevocationStatus,
    SubIndication,
    SubjectSpec,
    build_crl,
    build_ocsp_request,
    issue_certificate,
    load_certificates,
    parse_certificate,
    parse_csr,
    validate_path,
    verify_certificate_signature,
    verify_crl,
    verify_csr,
    verify_ocsp_response,
)
from ca.pem import is_pem, pem_label, pem_start, to_der, unarmor_all
from ca.validate import SM2_ID_EMPTY

NOW = datetime.now(UTC)
STANDARD_ID = "distid:1234567812345678"


# -- PEM with text around it -----------------------------------------------------------------


def test_openssl_text_output_is_pem(pki, run_openssl) -> None:
    """``openssl x509 -text`` puts a readable dump before the block: still one certificate."""
    path = pki.write("text_root", pki.root.der)
    text = run_openssl("x509", "-text", "-in", path).stdout.encode()
    assert text.startswith(b"Certificate:") and b"\n-----BEGIN CERTIFICATE-----\n" in text
    assert parse_certificate(text) == pki.root.cert
    assert load_certificates(text) == [pki.root.cert]


def test_bundle_with_text_before_each_block(pki, run_openssl) -> None:
    """CA bundles often repeat the dump above every block (text between blocks is ignored)."""
    parts = [
        run_openssl("x509", "-text", "-in", pki.write(f"b{i}", issued.der)).stdout
        for i, issued in enumerate((pki.issuing, pki.root))
    ]
    bundle = ("# bundle made with openssl x509 -text\n" + "\n".join(parts)).encode()
    assert load_certificates(bundle) == [pki.issuing.cert, pki.root.cert]


def test_csr_with_text_before_it(pki, run_openssl, tmp_path: Path) -> None:
    """The same rule for every PEM reader in ca/ (here: CSRs, via single_der)."""
    key, csr = tmp_path / "k.pem", tmp_path / "r.pem"
    run_openssl(
        "req",
        "-new",
        "-newkey",
        "sm2",
        "-nodes",
        "-keyout",
        key,
        "-out",
        csr,
        "-subj",
        "/CN=text csr",
        "-sm3",
        "-sigopt",
        STANDARD_ID,
    )
    text = run_openssl("req", "-text", "-in", csr).stdout.encode()
    assert not text.startswith(b"-----")
    assert parse_csr(text).subject_str == "CN=text csr"
    verify_csr(text)


def test_pem_boundary_rules() -> None:
    block = b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"
    assert pem_start(block) == 0 and pem_label(block) == "CERTIFICATE"
    text = "Subject: CN=测试\n\tnote\r\n".encode() + block
    assert pem_start(text) == text.index(b"-----BEGIN") and pem_label(text) == "CERTIFICATE"
    assert unarmor_all(text) == [("CERTIFICATE", b"\x30\x00")] and to_der(text) == b"\x30\x00"
    assert is_pem(b"\n   " + block)  # blanks before the boundary on its line
    assert not is_pem(b"text -----BEGIN CERTIFICATE----- in mid-line\n")
    # DER carrying a PEM-looking line (e.g. signed PEM file as CMS content) stays DER
    der = core.OctetString(b"\n" + block).dump()
    assert not is_pem(der) and to_der(der) == der
    with pytest.raises(ValueError):
        unarmor_all(b"no pem here")


# -- SM2 signatures with OpenSSL 3's empty default ID ----------------------------------------


@pytest.fixture(scope="module")
def openssl_ca(run_openssl, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and leaves made only by the openssl command line, none told the SM2 ID but one."""
    d = tmp_path_factory.mktemp("openssl_ca")
    run_openssl(
        "req",
        "-x509",
        "-newkey",
        "sm2",
        "-nodes",
        "-keyout",
        d / "ca.key",
        "-out",
        d / "ca.pem",
        "-subj",
        "/CN=OpenSSL empty-ID CA",
        "-days",
        "30",
        "-sm3",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    run_openssl(
        "req",
        "-new",
        "-newkey",
        "sm2",
        "-nodes",
        "-keyout",
        d / "leaf.key",
        "-out",
        d / "leaf.csr",
        "-subj",
        "/CN=OpenSSL empty-ID leaf",
        "-sm3",
    )
    ca_args = ["-CA", d / "ca.pem", "-CAkey", d / "ca.key", "-CAcreateserial", "-days", "10", "-sm3"]
    run_openssl("x509", "-req", "-in", d / "leaf.csr", "-out", d / "leaf.pem", *ca_args)
    run_openssl("x509", "-req", "-in", d / "leaf.csr", "-out", d / "leaf_std.pem", *ca_args, "-sigopt", STANDARD_ID)
    run_openssl(
        "x509",
        "-req",
        "-in",
        d / "leaf.csr",
        "-out",
        d / "leaf_alice.pem",
        *ca_args,
        "-sigopt",
        "distid:ALICE123@YAHOO.COM",
    )
    return {p.stem: p for p in d.glob("*.pem")} | {"leaf.csr": d / "leaf.csr"}


def _cert(files: dict[str, Path], name: str):
    return parse_certificate(files[name].read_bytes())


def _soon(files: dict[str, Path]) -> datetime:
    """A time inside the openssl certificates' validity (they start the second they are made)."""
    return _cert(files, "ca").not_before + timedelta(minutes=1)


def _with_bad_signature(der: bytes) -> bytes:
    """The same certificate with one byte of the signature's r flipped (DER stays valid)."""
    cert = parse_certificate(der)
    der = cert.der
    where = der.rindex(cert.signature) + 6
    out = bytearray(der)
    out[where] ^= 0x01
    return bytes(out)


def test_openssl_default_id_certificate_as_its_own_anchor_passes(openssl_ca) -> None:
    ca = _cert(openssl_ca, "ca")
    assert verify_certificate_signature(ca, ca) == SM2_ID_EMPTY
    result = validate_path(ca, anchors=[ca], at=_soon(openssl_ca))
    assert result.indication is Indication.PASSED, result.message
    assert result.check("path[0].signature").result == "passed"
    assert result.check(f"path[0].{SM2_ID_EMPTY}").result == "warning"
    assert any(w.startswith(SM2_ID_EMPTY) for w in result.warnings)


def test_openssl_default_id_chain_passes_with_warning(openssl_ca) -> None:
    ca, leaf = _cert(openssl_ca, "ca"), _cert(openssl_ca, "leaf")
    result = validate_path(leaf, anchors=[ca], at=_soon(openssl_ca))
    assert result.indication is Indication.PASSED, result.message
    assert result.check("path[0].signature").result == "passed"
    assert result.check(f"path[0].{SM2_ID_EMPTY}").result == "warning"
    assert "CN=OpenSSL empty-ID leaf" in result.check(f"path[0].{SM2_ID_EMPTY}").detail


def test_standard_id_signature_has_no_warning(openssl_ca, pki) -> None:
    ca, leaf = _cert(openssl_ca, "ca"), _cert(openssl_ca, "leaf_std")
    assert verify_certificate_signature(leaf, ca) is None
    result = validate_path(leaf, anchors=[ca], at=_soon(openssl_ca))
    assert result.passed and result.check(f"path[0].{SM2_ID_EMPTY}") is None
    ours = validate_path(pki.leaves["signer"].der, intermediates=[pki.issuing.der], anchors=[pki.root.der], at=NOW)
    assert ours.passed and ours.warnings == ()
    assert verify_certificate_signature(pki.leaves["signer"].cert, pki.issuing.cert) is None


@pytest.mark.parametrize("bad", ["corrupted", "other_id"])
def test_bad_signatures_still_fail(openssl_ca, bad: str) -> None:
    """Neither the standard nor the empty ID makes a wrong signature (or another ID's) verify."""
    ca = _cert(openssl_ca, "ca")
    if bad == "corrupted":
        leaf = parse_certificate(_with_bad_signature(openssl_ca["leaf"].read_bytes()))
    else:
        leaf = _cert(openssl_ca, "leaf_alice")  # signed with ID ALICE123@YAHOO.COM
    with pytest.raises(hsm.InvalidSignature, match="neither with SM2 ID 1234567812345678 nor the empty ID"):
        verify_certificate_signature(leaf, ca)
    result = validate_path(leaf, anchors=[ca], at=_soon(openssl_ca))
    assert result.indication is Indication.FAILED
    assert result.sub_indication == SubIndication.SIG_CRYPTO_FAILURE
    assert result.check("path[0].signature").result == "failed"
    assert result.check(f"path[0].{SM2_ID_EMPTY}") is None


def test_openssl_default_id_csr_verifies(openssl_ca) -> None:
    assert verify_csr(openssl_ca["leaf.csr"].read_bytes()).subject_str == "CN=OpenSSL empty-ID leaf"


class _EmptyIdSigner(hsm.Signer):
    """Signs as OpenSSL 3 does by default: with the empty SM2 ID, whatever it is asked for."""

    def __init__(self, inner: hsm.Signer) -> None:
        self._inner = inner

    key_ref = property(lambda self: self._inner.key_ref + "#empty-id")
    algorithm = property(lambda self: self._inner.algorithm)
    public_key = property(lambda self: self._inner.public_key)

    def sign(self, message: bytes, *, sm2_id: bytes = hsm.DEFAULT_SM2_ID) -> bytes:
        return self._inner.sign(message, sm2_id=b"")

    def sign_digest(self, digest: bytes) -> bytes:
        return self._inner.sign_digest(digest)  # the caller's digest says which Z it holds


def test_crl_signed_with_empty_id(pki) -> None:
    """CRLs share the signature code: accepted, and the revocation source says so."""
    crl = build_crl(
        issuer_cert=pki.issuing.der,
        issuer_signer=_EmptyIdSigner(pki.issuing.signer),
        revoked=[],
        crl_number=7,
        this_update=NOW - timedelta(hours=1),
        next_update=NOW + timedelta(days=1),
    )
    verify_crl(crl, pki.issuing.der)
    status = CRLRevocationChecker([crl]).check(pki.leaves["signer"].cert, pki.issuing.cert, NOW)
    assert status.status == "good" and SM2_ID_EMPTY in status.source


def test_ocsp_response_signed_with_empty_id(pki) -> None:
    responder = OCSPResponder(_EmptyIdSigner(pki.issuing.signer), pki.issuing.der, [pki.issuing.der])
    request = build_ocsp_request(pki.leaves["signer"].der, pki.issuing.der)
    response = responder.respond(request, lambda issuer, serial: RevocationStatus("good"))
    v = verify_ocsp_response(response, issuer_cert=pki.issuing.der, cert=pki.leaves["signer"].der)
    assert v.valid and v.status == "good"
    assert v.check("ocsp.signature").result == "passed"
    assert v.check(f"ocsp.{SM2_ID_EMPTY}").result == "warning"


def test_we_never_issue_with_the_empty_id(pki) -> None:
    """Verifiers tolerate the empty ID; our own certificates must use the GM/T 0015 one."""
    with pytest.raises(CAError) as err:
        issue_certificate(
            profile="signer",
            subject=SubjectSpec("empty id"),
            public_key=pki.new_signer().public_key,
            issuer_signer=_EmptyIdSigner(pki.issuing.signer),
            issuer_cert=pki.issuing.der,
        )
    assert err.value.code == "signer_fault"
