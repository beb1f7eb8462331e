"""Issuance: a real hierarchy from a soft key store, checked by OpenSSL and by gmalg."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import gmalg
import pytest
from asn1crypto import algos, keys, x509

import hsm
from ca import (
    PKIXOID,
    PROFILES,
    CAError,
    SubjectSpec,
    TrustSvcEKU,
    build_csr,
    issue_certificate,
    parse_certificate,
    subject_key_identifier,
    verify_certificate_signature,
)
from ca.profiles import add_years

SM2_ID_OPT = "distid:1234567812345678"
LEAF_PROFILES = tuple(name for name, p in PROFILES.items() if not p.is_ca)

OPENSSL_KU = {
    "digital_signature": "Digital Signature",
    "non_repudiation": "Non Repudiation",
    "key_cert_sign": "Certificate Sign",
    "crl_sign": "CRL Sign",
}


def _all_issued(pki):
    yield "root", pki.root, None
    yield "issuing", pki.issuing, pki.root
    for name, leaf in pki.leaves.items():
        yield name, leaf, pki.issuing


def test_openssl_prints_every_certificate(pki, run_openssl):
    for name, issued, _ in _all_issued(pki):
        path = pki.directory / f"{name}.der"
        path.write_bytes(issued.der)
        text = run_openssl("x509", "-inform", "DER", "-in", path, "-text", "-noout", "-nameopt", "utf8").stdout
        assert text.count("Signature Algorithm: SM2-with-SM3") == 2, name
        assert "ASN1 OID: SM2" in text
        assert issued.cert.subject_str.split("CN=")[1].split(",")[0] in text  # the Chinese CN, verbatim
        assert "O=江苏省" in text
        for ku in issued.cert.key_usage:
            assert OPENSSL_KU[ku] in text, (name, ku)
        assert "X509v3 Basic Constraints: critical" in text
        assert "X509v3 Key Usage: critical" in text


def test_openssl_verifies_each_two_level_link(pki, run_openssl):
    root_pem = pki.write("root", pki.root.der)
    issuing_pem = pki.write("issuing", pki.issuing.der)
    out = run_openssl("verify", "-vfyopt", SM2_ID_OPT, "-CAfile", root_pem, issuing_pem).stdout
    assert out.strip().endswith("OK")
    for name, leaf in pki.leaves.items():
        leaf_pem = pki.write(name, leaf.der)
        # the issuing CA is not self-signed: -partial_chain makes it the sole anchor
        out = run_openssl("verify", "-vfyopt", SM2_ID_OPT, "-partial_chain", "-CAfile", issuing_pem, leaf_pem).stdout
        assert out.strip().endswith("OK"), name


def test_openssl_checks_root_self_signature(pki, run_openssl):
    """`openssl verify -check_ss_sig` ignores distid; check the root's TBS with pkeyutl instead."""
    (pki.directory / "root.tbs").write_bytes(pki.root.cert.tbs_der)
    (pki.directory / "root.sig").write_bytes(pki.root.cert.signature)
    pub = pki.directory / "root.pub.pem"
    pub.write_text(run_openssl("x509", "-in", pki.write("root", pki.root.der), "-pubkey", "-noout").stdout)
    args = ["pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pkeyopt", SM2_ID_OPT, "-pubin", "-inkey", pub]
    ok = run_openssl(*args, "-in", pki.directory / "root.tbs", "-sigfile", pki.directory / "root.sig")
    assert "Signature Verified Successfully" in ok.stdout
    (pki.directory / "root.tbs.bad").write_bytes(pki.root.cert.tbs_der + b"\x00")
    bad = run_openssl(*args, "-in", pki.directory / "root.tbs.bad", "-sigfile", pki.directory / "root.sig", check=False)
    assert bad.returncode != 0


def test_gmalg_independently_verifies_signatures(pki):
    for name, issued, issuer in [("issuing", pki.issuing, pki.root), ("signer", pki.leaves["signer"], pki.issuing)]:
        point = keys.PublicKeyInfo.load(issuer.cert.spki)["public_key"].native
        sig = algos.DSASignature.load(issued.cert.signature)
        r, s = sig["r"].native, sig["s"].native
        oracle = gmalg.SM2(pk=point, uid=b"1234567812345678")
        assert oracle.verify(issued.cert.tbs_der, r.to_bytes(32, "big"), s.to_bytes(32, "big")), name
        assert not oracle.verify(issued.cert.tbs_der + b"x", r.to_bytes(32, "big"), s.to_bytes(32, "big"))


def test_chinese_subject_round_trips(pki):
    cert = pki.issuing.cert
    assert cert.subject_str == (
        "C=CN, ST=江苏省, O=江苏省市场监督管理局, CN=江苏省市场监督管理局 CA, organizationIdentifier=11320000014000123X"
    )
    rdns = {atv["type"].native: atv["value"] for rdn in cert.subject.chosen for atv in rdn}
    assert rdns["country_name"].name == "printable_string"
    assert rdns["common_name"].name == "utf8_string"
    assert rdns["organization_name"].native == "江苏省市场监督管理局"
    assert pki.leaves["signer"].cert.issuer.dump() == cert.subject.dump()  # issuer copied verbatim


@pytest.mark.parametrize("name", list(PROFILES))
def test_profile_shapes(pki, name):
    profile = PROFILES[name]
    issued = {"root_ca": pki.root, "issuing_ca": pki.issuing, **pki.leaves}[name]
    cert = issued.cert
    assert cert.key_usage == profile.key_usage
    assert "key_usage" in cert.critical_extensions and "basic_constraints" in cert.critical_extensions
    assert cert.is_ca is profile.is_ca
    assert cert.path_len == (profile.path_length if profile.is_ca else None)
    expected_eku = set(profile.extended_key_usage)
    assert {e for e in cert.eku if e[0].isdigit()} == expected_eku
    assert ("extended_key_usage" in cert.critical_extensions) is profile.eku_critical
    assert cert.ocsp_no_check is profile.ocsp_no_check
    assert cert.ski == subject_key_identifier(cert.spki)
    assert cert.signature_algorithm_oid == "1.2.156.10197.1.501"
    assert cert.signature_parameters_der == b""  # parameters absent (GM/T 0015)
    span = cert.not_after - cert.not_before
    if name in ("root_ca", "issuing_ca"):
        assert cert.not_after == add_years(cert.not_before, profile.validity_years)
    else:  # leaves: 1..5 years, all inside the 10-year issuing CA
        assert cert.not_after == min(add_years(cert.not_before, profile.validity_years), pki.issuing.cert.not_after)
    assert span >= timedelta(days=365 * profile.validity_years) - timedelta(days=1)


def test_profile_constants():
    assert PROFILES["root_ca"].path_length == 1 and PROFILES["root_ca"].validity_years == 20
    assert PROFILES["issuing_ca"].path_length == 0 and PROFILES["issuing_ca"].validity_years == 10
    assert PROFILES["seal_maker"].extended_key_usage == (TrustSvcEKU.SEAL_MAKER,)
    assert PROFILES["signer"].extended_key_usage == (PKIXOID.DOCUMENT_SIGNING, TrustSvcEKU.ESEAL_SIGNER)
    assert PROFILES["tsa"].eku_critical and PROFILES["tsa"].extended_key_usage == (PKIXOID.TIME_STAMPING,)
    assert PROFILES["ocsp"].ocsp_no_check and PROFILES["ocsp"].validity_years == 1
    assert {PROFILES[n].validity_years for n in ("trust_list_signer", "status_list_signer", "code_signer")} == {2}


def test_extensions_and_identifiers(pki):
    leaf = pki.leaves["signer"].cert
    assert leaf.aki == pki.issuing.cert.ski
    assert pki.issuing.cert.aki == pki.root.cert.ski == subject_key_identifier(pki.root.cert.spki)
    assert leaf.crl_urls == ("http://pki.example.cn/crl/dept.crl",)
    assert leaf.ocsp_urls == ("http://pki.example.cn/ocsp",)
    assert leaf.ca_issuers_urls == ("http://pki.example.cn/dept.cer",)
    assert "document_signing" in leaf.eku and "eseal_signer" in leaf.eku
    assert leaf.spki == pki.leaves["signer"].signer.public_key  # SPKI copied verbatim
    assert 0 < leaf.serial < 2**159
    assert pki.root.cert.is_self_issued and not leaf.is_self_issued
    # by default a certificate is valid from a few minutes before it is issued (clock skew);
    # the session's hierarchy is dated earlier on purpose (tests/ca/conftest.py), so issue afresh
    fresh = pki.issue("signer", SubjectSpec("现签"), pki.issuing, not_before=None).cert
    now = datetime.now(UTC)
    assert now - timedelta(minutes=6) < fresh.not_before < now


def test_not_after_capped_at_issuer(pki):
    late = pki.issuing.cert.not_after + timedelta(days=400)
    issued = pki.issue("signer", SubjectSpec("长期签章"), pki.issuing, not_after=late)
    assert issued.cert.not_after == pki.issuing.cert.not_after


def test_refuses_to_issue_after_issuer_expired(pki):
    after = pki.issuing.cert.not_after + timedelta(days=1)
    with pytest.raises(CAError) as err:
        pki.issue("signer", SubjectSpec("迟到"), pki.issuing, not_before=after)
    assert err.value.code == "issuer_expired"


def test_explicit_serial_and_times(pki):
    start = datetime(2027, 1, 1, tzinfo=UTC)
    issued = pki.issue("code_signer", SubjectSpec("码"), pki.issuing, serial=12345, not_before=start)
    assert issued.cert.serial == 12345
    assert issued.cert.not_before == start
    assert issued.cert.not_after == datetime(2029, 1, 1, tzinfo=UTC)


def test_refuses_issuer_that_is_not_a_ca(pki):
    leaf = pki.leaves["signer"]
    with pytest.raises(CAError) as err:
        pki.issue("signer", SubjectSpec("x"), leaf)
    assert err.value.code == "issuer_not_ca"


def test_refuses_issuer_without_key_cert_sign(pki, interop_dir):
    """ofdrw's root is cA=TRUE but lacks keyCertSign."""
    ofdrw_root = (interop_dir / "certs" / "ofdrw_root.pem").read_bytes()
    signer = pki.new_signer()
    with pytest.raises(CAError) as err:
        issue_certificate(
            profile="signer",
            subject=SubjectSpec("x"),
            public_key=signer.public_key,
            issuer_signer=signer,
            issuer_cert=ofdrw_root,
        )
    assert err.value.code == "issuer_cannot_sign_certificates"


def test_refuses_signer_that_does_not_hold_issuer_key(pki):
    impostor = pki.new_signer()
    with pytest.raises(CAError) as err:
        issue_certificate(
            profile="signer",
            subject=SubjectSpec("x"),
            public_key=impostor.public_key,
            issuer_signer=impostor,
            issuer_cert=pki.issuing.der,
        )
    assert err.value.code == "issuer_key_mismatch"


def test_self_signed_requires_own_key_and_ca_profile(pki):
    a, b = pki.new_signer(), pki.new_signer()
    with pytest.raises(CAError) as err:
        issue_certificate(
            profile="root_ca", subject=SubjectSpec("r"), public_key=a.public_key, issuer_signer=b, issuer_cert=None
        )
    assert err.value.code == "key_mismatch"
    with pytest.raises(CAError) as err:
        issue_certificate(
            profile="signer", subject=SubjectSpec("r"), public_key=a.public_key, issuer_signer=a, issuer_cert=None
        )
    assert err.value.code == "self_signed_leaf"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"serial": 0}, "bad_serial"),
        ({"serial": 2**159}, "bad_serial"),
        ({"public_key": b"\x30\x03\x02\x01\x00"}, "bad_public_key"),
        ({"crl_url": "http://例子.cn/crl"}, "bad_url"),
        ({"profile": "no_such_profile"}, "unknown_profile"),
        (
            {"not_before": datetime(2030, 1, 1, tzinfo=UTC), "not_after": datetime(2029, 1, 1, tzinfo=UTC)},
            "empty_validity",
        ),
    ],
)
def test_refuses_bad_requests(pki, kwargs, code):
    signer = pki.leaves["signer"].signer
    args = {
        "profile": "signer",
        "subject": SubjectSpec("x"),
        "public_key": signer.public_key,
        "issuer_signer": pki.issuing.signer,
        "issuer_cert": pki.issuing.der,
        **kwargs,
    }
    with pytest.raises(CAError) as err:
        issue_certificate(**args)
    assert err.value.code == code


def test_ecdsa_p256_issuer(pki):
    """A P-256 key (PKCS#11 token without SM2) issues ecdsa-with-SHA256 certificates."""
    p256 = pki.new_signer(hsm.KeyAlgorithm.ECDSA_P256)
    root = pki.issue("root_ca", SubjectSpec("P-256 根"), None, signer=p256)
    assert root.cert.signature_algorithm_oid == PKIXOID.ECDSA_WITH_SHA256
    leaf = pki.issue("signer", SubjectSpec("SM2 签章"), root)
    verify_certificate_signature(leaf.der, root.cert.spki)
    with pytest.raises(hsm.InvalidSignature):
        verify_certificate_signature(leaf.der, pki.root.cert.spki)  # SM2 key, ECDSA signature


def test_issue_from_csr(pki):
    from ca import verify_csr

    subject_signer = pki.new_signer()
    csr = verify_csr(build_csr(SubjectSpec("申请者", organization="某局"), subject_signer))
    assert csr.subject_str == "C=CN, O=某局, CN=申请者"
    der = issue_certificate(
        profile="seal_maker",
        subject=SubjectSpec("申请者", organization="某局"),
        public_key=csr.spki,
        issuer_signer=pki.issuing.signer,
        issuer_cert=pki.issuing.cert,
    )
    assert parse_certificate(der).spki == subject_signer.public_key


def test_csr_signature_is_checked(pki, run_openssl):
    from ca import verify_csr

    der = build_csr(SubjectSpec("申请者"), pki.new_signer())
    (pki.directory / "req.der").write_bytes(der)
    out = run_openssl(
        "req", "-inform", "DER", "-in", pki.directory / "req.der", "-verify", "-vfyopt", SM2_ID_OPT, "-noout"
    )
    assert "verify OK" in (out.stdout + out.stderr)
    tampered = bytearray(der)
    tampered[der.index("申请者".encode())] ^= 0x01
    with pytest.raises(hsm.InvalidSignature):
        verify_csr(bytes(tampered))


def test_leaf_profiles_cover_all_non_ca_profiles():
    assert set(LEAF_PROFILES) == {
        "seal_maker",
        "signer",
        "trust_list_signer",
        "status_list_signer",
        "code_signer",
        "ocsp",
        "tsa",
    }


def test_key_identifier_is_form_independent(interop_dir):
    """Both SM2 SPKI forms of one key give one SKI (the point is hashed, not the SPKI)."""
    tongsuo_root = parse_certificate((interop_dir / "certs" / "tongsuo_sm2-root-cert.pem").read_bytes())
    assert tongsuo_root.public_key_algorithm_oid == "1.2.156.10197.1.301"
    info = keys.PublicKeyInfo(
        {
            "algorithm": {"algorithm": "ec", "parameters": keys.ECDomainParameters(name="named", value="sm2p256v1")},
            "public_key": tongsuo_root.public_key_point,
        }
    )
    assert subject_key_identifier(info.dump()) == subject_key_identifier(tongsuo_root.spki)
    assert x509.Certificate.load(tongsuo_root.der)["tbs_certificate"]["subject_public_key_info"]["public_key"].native
