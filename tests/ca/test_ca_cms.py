"""CMS / PKCS#7 SignedData with SM2 (ca.cms): the interop ``cms/`` artifacts reach their
MANIFEST verdicts, our own SignedData verifies with ours and independently (OpenSSL parses
it, gmalg checks the SM2 signature), and nothing but CAError escapes for any input bytes.

The interop files are read in place (never copied into this repository).
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gmalg
import pytest
from asn1crypto import cms, keys, pem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hsm
from ca import (
    CAError,
    CMSError,
    load_certificates,
    open_signed_and_enveloped,
    parse_certificate,
    parse_signed_and_enveloped,
    sign_cms,
    verify_certificate_signature,
    verify_cms,
)
from ca.cms import CT_DATA, CT_SIGNED_DATA, signed_message_digest
from ca.oids import SMOID
from hsm.openssl import OpenSSLSM2Key

REPO = Path(__file__).resolve().parents[2]

CONTENT = "电子证照信任列表 trust list v1".encode()
FUZZ = settings(
    max_examples=int(os.environ.get("TRUSTSVC_FUZZ_EXAMPLES") or 250),  # make fuzz: more
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _when(leaf) -> datetime:
    """A signing time inside the (freshly issued) certificate's validity."""
    return leaf.cert.not_before + timedelta(minutes=10, seconds=15)


def _results(v) -> dict[str, str]:
    return {c.name: c.result for c in v.checks}


def _pkcs8_der(path) -> bytes:
    return pem.unarmor(path.read_bytes())[2]


# ------------------------------------------------------------------------------------------
# interop cms/: one test per artifact


def test_cfca_sadk_attached_valid_signer_expired_issuer_missing(interop_cms):
    v = verify_cms((interop_cms / "gmsm_cfca_sadk_attached.p7b").read_bytes())
    assert v.valid, v.checks
    assert v.shape == "attached_no_signed_attributes"
    assert v.family == "gm" and v.content_type == SMOID.GM_DATA
    assert v.encapsulated_content == b"Hello Secret World!"
    assert v.signature_algorithm == SMOID.SM2_SIGN and v.digest_algorithm == "sm3"
    signer = v.signer_certificate
    assert signer is not None and signer.subject_str == "O=Acme Co, CN=Jon Snow"
    # Facts for the caller: issuer 'Eddard Stark' is not included, the certificate expired.
    assert len(v.certificates) == 1 and signer.issuer_str == "O=Acme Co, CN=Eddard Stark"
    assert signer.not_after == datetime(2025, 11, 19, 0, 12, 26, tzinfo=UTC)
    assert _results(v)["cms.signer_certificate.valid_now"] == "warning"
    assert v.signing_time is None


def test_cfca_sadk_detached_valid_only_for_its_content(interop_cms):
    data = (interop_cms / "gmsm_cfca_sadk_detached.p7b").read_bytes()
    good = verify_cms(data, detached_content=b"Hello Secret World!")
    assert good.valid and good.shape == "detached_no_signed_attributes"
    assert good.encapsulated_content is None
    bad = verify_cms(data, detached_content=b"Hello Secret World?")
    assert not bad.valid
    assert _results(bad)["cms.signature"] == "failed"
    missing = verify_cms(data)
    assert not missing.valid and _results(missing)["cms.content"] == "failed"


def test_ynca_gbt35275_detached_with_signed_attributes(interop_cms):
    data = (interop_cms / "ynca_gbt35275_detached_SignedValue.p7").read_bytes()
    content = (interop_cms / "ynca_gbt35275_detached_content_Signature.xml").read_bytes()
    v = verify_cms(data, detached_content=content)
    assert v.valid, v.checks
    assert v.shape == "detached_signed_attributes"
    assert v.message_digest == hsm.sm3(content)
    assert v.signing_time == datetime(2022, 11, 16, 11, 20, 58, tzinfo=UTC)
    results = _results(v)
    assert results["cms.signed_attributes.message_digest"] == "passed"
    assert results["cms.signature"] == "passed"
    # eContentType is PKCS#7 data, the contentType attribute GM data: tolerated, said so.
    assert results["cms.signed_attributes.content_type"] == "warning"
    # signer cert expired 2023-07-19 but was valid when signed
    assert results["cms.signer_certificate.valid_at_signing_time"] == "passed"
    assert results["cms.signer_certificate.valid_now"] == "warning"


def test_ynca_gbt35275_detached_modified_content_invalid(interop_cms):
    data = (interop_cms / "ynca_gbt35275_detached_SignedValue.p7").read_bytes()
    content = (interop_cms / "ynca_gbt35275_detached_content_Signature.xml").read_bytes()
    v = verify_cms(data, detached_content=content.replace(b"Signature", b"Signaturf", 1))
    assert not v.valid
    results = _results(v)
    assert results["cms.signed_attributes.message_digest"] == "failed"
    assert results["cms.signature"] == "passed"  # over the (unchanged) attributes


def test_tongz_attached_sm3_hash_valid(interop_cms):
    v = verify_cms((interop_cms / "tongz_gbt35275_attached_sm3hash_SignedValue.p7").read_bytes())
    assert v.valid, v.checks
    assert v.shape == "attached_no_signed_attributes"
    assert v.signature_algorithm == SMOID.SM2_WITH_SM3
    xml = (interop_cms / "tongz_gbt35275_attached_sm3hash_Signature.xml").read_bytes()
    assert v.encapsulated_content == hsm.sm3(xml)
    results = _results(v)
    assert results["cms.signature_encoding"] == "warning"  # raw 64-byte r||s
    # the CEGN cert's issuer has an x500UniqueIdentifier as UTF8String: ca reads it leniently
    assert v.signer_cert_der is not None and v.signer_certificate is not None
    assert "unique_identifier=B00102" in v.signer_certificate.issuer_str
    # giving the SM3 as detached content agrees; another file's hash does not
    assert verify_cms(
        (interop_cms / "tongz_gbt35275_attached_sm3hash_SignedValue.p7").read_bytes(), detached_content=hsm.sm3(xml)
    ).valid
    other = verify_cms(
        (interop_cms / "tongz_gbt35275_attached_sm3hash_SignedValue.p7").read_bytes(),
        detached_content=hsm.sm3(xml + b" "),
    )
    assert _results(other)["cms.detached_content"] == "failed" and not other.valid


def test_gmcert_signed_and_enveloped_structure(interop_cms):
    info = parse_signed_and_enveloped((interop_cms / "gmsm_gmcert_signed_enveloped.p7.pem").read_bytes())
    assert info.content_type == SMOID.GM_SIGNED_AND_ENVELOPED_DATA and info.family == "gm"
    (recipient,) = info.recipients
    enc_cert = parse_certificate((interop_cms / "gmsm_gmcert_encCert.pem").read_bytes())
    assert recipient.serial == enc_cert.serial  # names the ENCRYPTION certificate ...
    assert recipient.issuer_der == b"\x00\x00" and recipient.issuer is None  # ... with no issuer
    assert recipient.key_encryption_algorithm == SMOID.SM2_ENCRYPT
    assert info.content_encryption_algorithm == "1.2.156.10197.1.104"
    assert info.content_encryption_parameters == b""  # bare SM4, no IV: ECB (emmansun/CFCA)
    assert len(info.encrypted_content) == 64
    assert info.encrypted_content[:16] == info.encrypted_content[16:32]  # ECB: two equal blocks
    assert len(info.certificates) == 1


def test_gmcert_signed_and_enveloped_opens_to_the_escrowed_key(interop_cms):
    """emmansun's TestParseSignedEvnvelopedData: decrypt with signKey, Verify(), and the
    plaintext as a big integer equals expectedEncKey's private scalar D."""
    data = (interop_cms / "gmsm_gmcert_signed_enveloped.p7.pem").read_bytes()
    key = OpenSSLSM2Key.from_pkcs8(_pkcs8_der(interop_cms / "gmsm_gmcert_signKey.pem"))
    plaintext, v = open_signed_and_enveloped(data, decrypt=key.decrypt)
    expected = keys.PrivateKeyInfo.load(_pkcs8_der(interop_cms / "gmsm_gmcert_expectedEncKey.pem"))[
        "private_key"
    ].parsed
    d = expected["private_key"].native
    assert int.from_bytes(plaintext, "big") == d
    # What the bytes are: 64 bytes = 32 zero bytes || D (the 512-bit GM/T 0009 key field),
    # with no PKCS#7 padding (kept whole, with a warning, as emmansun does).
    assert len(plaintext) == 64 and plaintext[:32] == bytes(32)
    assert _results(v)["envelope.padding"] == "warning"
    assert v.valid, v.checks  # SM2 signature over the 64-byte plaintext
    signer = v.signer_certificate
    assert signer is not None and signer.is_self_issued and signer.is_ca  # signed by '测试CA' itself
    # D belongs to the encryption certificate: its public key is the one in expectedEncKey
    enc_cert = parse_certificate((interop_cms / "gmsm_gmcert_encCert.pem").read_bytes())
    assert expected["public_key"].native == enc_cert.public_key_point


def test_gmcert_envelope_refuses_the_wrong_key(interop_cms):
    data = (interop_cms / "gmsm_gmcert_signed_enveloped.p7.pem").read_bytes()
    with pytest.raises(CMSError) as exc:
        wrong = OpenSSLSM2Key.from_pkcs8(_pkcs8_der(interop_cms / "gmsm_gmcert_expectedEncKey.pem"))
        open_signed_and_enveloped(data, decrypt=wrong.decrypt)
    assert exc.value.code == "cannot_decrypt"


def test_gmcert_sign_and_enc_certs_parse_expired_issuer_not_in_their_files(interop_cms):
    now = datetime.now(UTC)
    sign_cert = parse_certificate((interop_cms / "gmsm_gmcert_signCert.pem").read_bytes())
    enc_cert = parse_certificate((interop_cms / "gmsm_gmcert_encCert.pem").read_bytes())
    for cert in (sign_cert, enc_cert):
        assert cert.issuer_str == "C=CN, ST=浙江, L=杭州, O=测试CA"
        assert not cert.valid_at(now) and cert.not_after.year == 2024
    assert sign_cert.key_usage == {"digital_signature", "non_repudiation"}
    assert "key_encipherment" in enc_cert.key_usage
    sign_key = keys.PrivateKeyInfo.load(_pkcs8_der(interop_cms / "gmsm_gmcert_signKey.pem"))["private_key"].parsed
    assert sign_key["public_key"].native == sign_cert.public_key_point
    # Not stated in MANIFEST: the issuer '测试CA' IS inside the enveloped artifact, and both
    # certificates verify under it.
    (ca_der,) = parse_signed_and_enveloped(
        (interop_cms / "gmsm_gmcert_signed_enveloped.p7.pem").read_bytes()
    ).certificates
    for cert in (sign_cert, enc_cert):
        verify_certificate_signature(cert, parse_certificate(ca_der))


# ------------------------------------------------------------------------------------------
# our own SignedData


@pytest.mark.parametrize("gm_oids", [False, True], ids=["pkcs7", "gm"])
@pytest.mark.parametrize("detached", [True, False], ids=["detached", "attached"])
@pytest.mark.parametrize("signed_attributes", [True, False], ids=["attrs", "noattrs"])
def test_sign_and_verify_all_shapes(pki, gm_oids, detached, signed_attributes):
    leaf = pki.leaves["signer"]
    der = sign_cms(
        CONTENT,
        signer=leaf.signer,
        signer_cert=leaf.der,
        extra_certs=[pki.issuing.der],
        detached=detached,
        signed_attributes=signed_attributes,
        gm_oids=gm_oids,
        signing_time=_when(leaf),
    )
    v = verify_cms(der, detached_content=CONTENT if detached else None)
    assert v.valid, v.checks
    assert v.warnings == ()
    assert v.shape == ("detached" if detached else "attached") + (
        "_signed_attributes" if signed_attributes else "_no_signed_attributes"
    )
    assert v.family == ("gm" if gm_oids else "pkcs7")
    assert v.content_type == (SMOID.GM_DATA if gm_oids else CT_DATA)
    assert v.encapsulated_content == (None if detached else CONTENT)
    assert v.signer_cert_der == leaf.der
    assert sorted(v.certificates) == sorted([leaf.der, pki.issuing.der])  # a DER SET OF: sorted
    assert v.signature_algorithm == SMOID.SM2_WITH_SM3 and v.digest_algorithm == "sm3"
    if signed_attributes:
        assert v.signing_time == _when(leaf)
        assert _results(v)["cms.signed_attributes.signing_certificate"] == "passed"
    outer = cms.ContentInfo.load(der)["content_type"].dotted
    assert outer == (SMOID.GM_SIGNED_DATA if gm_oids else CT_SIGNED_DATA)
    # what a PDF signer reads back instead of hashing the content again
    assert signed_message_digest(der) == (("sm3", hsm.sm3(CONTENT)) if signed_attributes else None)


def test_custom_econtent_type_for_trust_lists(pki):
    leaf = pki.leaves["trust_list_signer"]
    json_type = "2.25.302536209990631905168652741637771452772.9.1"
    for gm in (False, True):
        der = sign_cms(
            b'{"entries": []}',
            signer=leaf.signer,
            signer_cert=leaf.der,
            detached=False,
            content_type=json_type,
            gm_oids=gm,
        )
        v = verify_cms(der)
        assert v.valid and v.content_type == json_type and v.encapsulated_content == b'{"entries": []}'
    with pytest.raises(CMSError):
        sign_cms(b"{}", signer=leaf.signer, signer_cert=leaf.der, content_type=json_type, signed_attributes=False)


def test_p256_signer_uses_sha256(p256_signer):
    der = sign_cms(CONTENT, signer=p256_signer.signer, signer_cert=p256_signer.der, detached=False)
    v = verify_cms(der)
    assert v.valid and v.digest_algorithm == "sha256" and v.signature_algorithm == "1.2.840.10045.4.3.2"
    assert v.message_digest == hashlib.sha256(CONTENT).digest()


def test_signer_must_hold_the_certificate_key(pki):
    with pytest.raises(CAError) as exc:
        sign_cms(CONTENT, signer=pki.leaves["tsa"].signer, signer_cert=pki.leaves["signer"].der)
    assert exc.value.code == "key_mismatch"


def test_pem_input_and_non_signed_data(pki, interop_cms):
    leaf = pki.leaves["signer"]
    der = sign_cms(CONTENT, signer=leaf.signer, signer_cert=leaf.der, detached=False)
    assert verify_cms(pem.armor("PKCS7", der)).valid
    assert verify_cms(pem.armor("CMS", der)).valid
    with pytest.raises(CMSError) as exc:
        verify_cms((interop_cms / "gmsm_gmcert_signed_enveloped.p7.pem").read_bytes())
    assert exc.value.code == "not_signed_data"
    for junk in (b"", b"\x30\x00", b"-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n", leaf.der):
        with pytest.raises(CMSError):
            verify_cms(junk)


def test_detached_content_compared_with_attached(pki):
    leaf = pki.leaves["signer"]
    der = sign_cms(CONTENT, signer=leaf.signer, signer_cert=leaf.der, detached=False)
    same = verify_cms(der, detached_content=CONTENT)
    assert same.valid and _results(same)["cms.detached_content"] == "passed"
    other = verify_cms(der, detached_content=CONTENT + b"!")
    assert not other.valid and _results(other)["cms.detached_content"] == "failed"


def _rewrite(der: bytes, edit) -> bytes:
    """Re-encode a SignedData after ``edit(signed_data, signer_info)`` (asn1crypto)."""
    info = cms.ContentInfo.load(der)
    signed = info["content"]
    edit(signed, signed["signer_infos"][0])
    return info.dump(force=True)


def test_gmssl_1701_sm2_with_sm3_in_digest_algorithms_tolerated(pki):
    leaf = pki.leaves["signer"]
    der = sign_cms(CONTENT, signer=leaf.signer, signer_cert=leaf.der, detached=False, gm_oids=True)

    def edit(signed, _si):
        signed["digest_algorithms"] = [{"algorithm": SMOID.SM2_WITH_SM3}]

    v = verify_cms(_rewrite(der, edit))
    assert v.valid and _results(v)["cms.digest_algorithms"] == "warning"
    assert any("GmSSL#1701" in w for w in v.warnings)


def test_raw_r_s_signature_tolerated_with_warning(pki):
    leaf = pki.leaves["signer"]
    der = sign_cms(CONTENT, signer=leaf.signer, signer_cert=leaf.der, detached=False)

    def edit(_signed, si):
        si["signature"] = hsm.signature_to_raw(si["signature"].native)

    v = verify_cms(_rewrite(der, edit))
    assert v.valid and _results(v)["cms.signature_encoding"] == "warning"


def test_subject_key_identifier_sid_is_found(pki):
    leaf = pki.leaves["signer"]
    der = sign_cms(CONTENT, signer=leaf.signer, signer_cert=leaf.der, detached=False)

    def edit(_signed, si):
        si["version"] = "v3"
        si["sid"] = cms.SignerIdentifier(name="subject_key_identifier", value=leaf.cert.ski)

    v = verify_cms(_rewrite(der, edit))
    assert v.valid and v.signer_cert_der == leaf.der


def test_missing_signer_certificate_is_reported_not_raised(pki):
    leaf = pki.leaves["signer"]
    der = sign_cms(CONTENT, signer=leaf.signer, signer_cert=leaf.der, detached=False, include_certificates=False)
    alone = verify_cms(der)
    assert not alone.valid and _results(alone)["cms.signer_certificate"] == "failed"
    assert verify_cms(der, certificates=[leaf.der]).valid


# ------------------------------------------------------------------------------------------
# independent checks: OpenSSL parses, gmalg verifies


def _gmalg_verify(cert_der: bytes, message: bytes, signature_der: bytes) -> bool:
    r, s = hsm.decode_signature(signature_der)
    point = parse_certificate(cert_der).public_key_point
    oracle = gmalg.SM2(pk=point, uid=hsm.DEFAULT_SM2_ID)
    return oracle.verify(
        message, r.to_bytes((r.bit_length() + 7) // 8, "big"), s.to_bytes((s.bit_length() + 7) // 8, "big")
    )


@pytest.mark.parametrize("gm_oids", [False, True], ids=["pkcs7", "gm"])
def test_openssl_parses_and_gmalg_verifies_signed_attributes(pki, run_openssl, asn1parse, tmp_path, gm_oids):
    leaf = pki.leaves["signer"]
    der = sign_cms(
        CONTENT, signer=leaf.signer, signer_cert=leaf.der, detached=True, gm_oids=gm_oids, signing_time=_when(leaf)
    )
    path = tmp_path / "sig.p7"
    path.write_bytes(der)
    rows = asn1parse(path)  # rc 0 asserted by run_openssl
    if not gm_oids:
        printed = run_openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", path).stdout
        assert "pkcs7-signedData" in printed and "SM2-with-SM3" in printed
        assert "id-smime-aa-signingCertificateV2" in printed and "sm3 (1.2.156.10197.1.401)" in printed
    # signerInfo fields at depth 5 (ContentInfo > [0] > SignedData > SET > SignerInfo > field)
    attrs = next(r for r in rows if r[1] == 5 and "cont [ 0 ]" in r[3])
    sig = [r for r in rows if r[1] == 5 and "OCTET STRING" in r[3]][-1]
    attrs_len = int(attrs[3].split()[0])
    attrs_der = b"\x31" + der[attrs[0] + 1 : attrs[0] + attrs[2] + attrs_len]  # [0] IMPLICIT -> SET
    sig_len = int(sig[3].split()[0])
    signature = der[sig[0] + sig[2] : sig[0] + sig[2] + sig_len]
    assert _gmalg_verify(leaf.der, attrs_der, signature)
    assert not _gmalg_verify(leaf.der, attrs_der + b"\x00", signature)
    digest_row = next(r for r in rows if "OCTET STRING" in r[3] and "[HEX DUMP]" in r[3] and r[1] == 8)
    assert bytes.fromhex(digest_row[3].split(":")[-1]) == hashlib.new("sm3", CONTENT).digest()


def test_gmalg_verifies_signature_over_content_without_attributes(pki, asn1parse, tmp_path):
    leaf = pki.leaves["signer"]
    der = sign_cms(
        CONTENT, signer=leaf.signer, signer_cert=leaf.der, detached=False, signed_attributes=False, gm_oids=True
    )
    path = tmp_path / "sig.p7"
    path.write_bytes(der)
    rows = asn1parse(path)
    sig = [r for r in rows if r[1] == 5 and "OCTET STRING" in r[3]][-1]
    sig_len = int(sig[3].split()[0])
    assert _gmalg_verify(leaf.der, CONTENT, der[sig[0] + sig[2] : sig[0] + sig[2] + sig_len])


# ------------------------------------------------------------------------------------------
# tampering and fuzzing


def test_every_byte_flipped_is_invalid_or_refused(pki):
    """Invert each byte of a signed-attributes SignedData in turn (the signer certificate is
    covered through signingCertificateV2, so no byte is outside the signature's reach)."""
    leaf = pki.leaves["signer"]
    der = sign_cms(b"x", signer=leaf.signer, signer_cert=leaf.der, detached=False)
    accepted = []
    for i in range(len(der)):
        flipped = der[:i] + bytes([der[i] ^ 0xFF]) + der[i + 1 :]
        try:
            if verify_cms(flipped).valid:
                accepted.append(i)
        except CAError:
            pass
    assert accepted == []


def test_bit_flips_accepted_only_where_harmless(pki):
    """Single-bit flips (bits 1 and 5 of every byte) that still verify are exactly the two
    harmless kinds: the SignedData version becoming another legal value (1 -> 3), and a
    letter's case in the sid issuer name (names compare case-insensitively, RFC 5280 §7.1)."""
    leaf = pki.leaves["signer"]
    der = sign_cms(b"x", signer=leaf.signer, signer_cert=leaf.der, detached=False)
    version_at = der.index(b"\x02\x01\x01\x31")  # SignedData version INTEGER 1, then the SET
    accepted = []
    for i in range(len(der)):
        for bit in (1, 5):
            flipped = der[:i] + bytes([der[i] ^ (1 << bit)]) + der[i + 1 :]
            try:
                if verify_cms(flipped).valid:
                    accepted.append((i, bit))
            except CAError:
                pass
    for i, bit in accepted:
        assert (i == version_at + 2 and bit == 1) or (bit == 5 and chr(der[i]).isalpha()), (i, bit)
    assert (version_at + 2, 1) in accepted


def test_signature_bit_flips_invalid(pki):
    leaf = pki.leaves["signer"]
    der = sign_cms(CONTENT, signer=leaf.signer, signer_cert=leaf.der, detached=False, signed_attributes=False)
    sig = cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signature"].native
    start = der.rindex(sig)
    for i in range(start, start + len(sig)):
        for bit in (0, 3, 7):
            flipped = der[:i] + bytes([der[i] ^ (1 << bit)]) + der[i + 1 :]
            try:
                assert not verify_cms(flipped).valid
            except CAError:
                pass


def _mutate(data: bytes, draw) -> bytes:
    kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
    i = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        return data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1 :]
    if kind == "set":
        return data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    if kind == "truncate":
        return data[:i]
    if kind == "insert":
        return data[:i] + draw(st.binary(min_size=1, max_size=4)) + data[i:]
    return data[:i] + data[i + 1 + draw(st.integers(0, 3)) :]


def _only_ca_errors(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (CAError, hsm.InvalidSignature):
        return None


@FUZZ
@given(st.binary(max_size=1200))
def test_fuzz_random_bytes(data):
    _only_ca_errors(verify_cms, data)
    _only_ca_errors(verify_cms, data, detached_content=b"x")
    _only_ca_errors(parse_signed_and_enveloped, data)


_seed: dict[str, bytes] = {}


def _seeds(pki) -> list[bytes]:
    """Our SignedData (with and without attributes) plus, when present, the interop ones."""
    if not _seed:
        leaf = pki.leaves["signer"]
        _seed["ours"] = sign_cms(CONTENT, signer=leaf.signer, signer_cert=leaf.der, detached=False, gm_oids=True)
        _seed["ours-noattrs"] = sign_cms(CONTENT, signer=leaf.signer, signer_cert=leaf.der, signed_attributes=False)
        interop = Path(os.environ.get("TRUSTSVC_INTEROP_DIR") or REPO.parent / "shared" / "interop") / "cms"
        for name in (
            "ynca_gbt35275_detached_SignedValue.p7",
            "tongz_gbt35275_attached_sm3hash_SignedValue.p7",
            "gmsm_cfca_sadk_attached.p7b",
        ):
            if (interop / name).is_file():
                _seed[name] = (interop / name).read_bytes()
    return list(_seed.values())


@FUZZ
@given(st.data())
def test_fuzz_mutated_signed_data(pki, data):
    seed = data.draw(st.sampled_from(_seeds(pki)))
    mutated = _mutate(seed, data.draw)
    result = _only_ca_errors(verify_cms, mutated, detached_content=CONTENT if data.draw(st.booleans()) else None)
    if result is not None and mutated != seed:
        assert isinstance(result.valid, bool)


@settings(
    max_examples=int(os.environ.get("TRUSTSVC_FUZZ_EXAMPLES") or 150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.data())
def test_fuzz_mutated_envelope(interop_cms, data):
    seed = pem.unarmor((interop_cms / "gmsm_gmcert_signed_enveloped.p7.pem").read_bytes())[2]
    key = OpenSSLSM2Key.from_pkcs8(_pkcs8_der(interop_cms / "gmsm_gmcert_signKey.pem"))
    mutated = _mutate(seed, data.draw)
    _only_ca_errors(open_signed_and_enveloped, mutated, decrypt=key.decrypt)


def test_interop_cms_certificates_load(interop_cms):
    """Every certificate inside the cms/ SignedData files is extracted (DER) by verify_cms,
    including the ones ca.parse_certificate cannot read (tongz)."""
    for name, count in (("gmsm_cfca_sadk_attached.p7b", 1), ("ynca_gbt35275_detached_SignedValue.p7", 1)):
        v = verify_cms((interop_cms / name).read_bytes(), detached_content=b"")
        assert len(v.certificates) == count
        assert load_certificates(v.certificates[0])
