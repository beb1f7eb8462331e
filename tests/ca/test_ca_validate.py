"""Path validation of chains we issue: time, anchors, tampering, path length, key usage, CRLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ca import (
    SIGNING_KEY_USAGE,
    CertificateError,
    CRLRevocationChecker,
    Indication,
    RevocationStatus,
    RevokedEntry,
    SubIndication,
    SubjectSpec,
    TrustSvcEKU,
    build_crl,
    parse_certificate,
    validate_path,
)

NOW = datetime.now(UTC)


def _validate(pki, leaf, **kwargs):
    kwargs.setdefault("intermediates", [pki.issuing.der])
    kwargs.setdefault("anchors", [pki.root.der])
    kwargs.setdefault("at", NOW)
    return validate_path(leaf, **kwargs)


def test_every_leaf_valid_now(pki):
    for name, leaf in pki.leaves.items():
        result = _validate(pki, leaf.der)
        assert result.indication is Indication.PASSED, (name, result.message)
        assert result.sub_indication is None
        assert [c.der for c in result.path] == [leaf.der, pki.issuing.der, pki.root.der]
        assert result.anchor == pki.root.cert
        assert not result.failed_checks
        names = {c.name for c in result.checks}
        assert {"path[0].signature", "path[1].signature", "path[2].signature", "path[1].path_length"} <= names
        assert result.check("path[0].revocation").result == "skipped"


def test_purpose_checks_pass_for_the_right_profile(pki):
    result = _validate(
        pki, pki.leaves["signer"].der, required_key_usage=SIGNING_KEY_USAGE, required_eku=TrustSvcEKU.ESEAL_SIGNER
    )
    assert result.passed
    assert result.check("leaf.extended_key_usage").result == "passed"
    by_name = _validate(pki, pki.leaves["signer"].der, required_eku="document_signing")
    assert by_name.passed


def test_wrong_eku_fails(pki):
    result = _validate(pki, pki.leaves["code_signer"].der, required_eku=TrustSvcEKU.SEAL_MAKER)
    assert result.indication is Indication.FAILED
    assert result.sub_indication == SubIndication.CHAIN_CONSTRAINTS_FAILURE
    assert result.check("leaf.extended_key_usage").result == "failed"


def test_wrong_key_usage_fails(pki):
    result = _validate(pki, pki.issuing.der, intermediates=[], required_key_usage=SIGNING_KEY_USAGE)
    assert result.indication is Indication.FAILED
    assert "has none of digital_signature, non_repudiation" in result.message


def test_expired_after_not_after(pki):
    leaf = pki.leaves["ocsp"]  # 1-year profile
    at = leaf.cert.not_after + timedelta(days=1)
    result = _validate(pki, leaf.der, at=at)
    assert result.indication is Indication.FAILED
    assert result.sub_indication == SubIndication.EXPIRED
    assert leaf.cert.subject_str in result.message
    assert result.check("path[0].validity").result == "failed"
    assert result.check("path[1].validity").result == "passed"


def test_not_yet_valid(pki):
    result = _validate(pki, pki.leaves["signer"].der, at=pki.root.cert.not_before - timedelta(days=1))
    assert result.sub_indication == SubIndication.NOT_YET_VALID


def test_root_missing_from_anchors_is_indeterminate(pki):
    result = _validate(pki, pki.leaves["signer"].der, anchors=[])
    assert result.indication is Indication.INDETERMINATE
    assert result.sub_indication == SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert result.anchor is None
    # the root was not given either: the path stops at the issuing CA, whose issuer is unknown
    assert [c.der for c in result.path] == [pki.leaves["signer"].der, pki.issuing.der]
    assert "not found" in result.message


def test_untrusted_self_signed_root_is_indeterminate(pki):
    other = pki.issue("root_ca", SubjectSpec("另一个根"), None)
    result = _validate(
        pki, pki.leaves["signer"].der, intermediates=[pki.issuing.der, pki.root.der], anchors=[other.der]
    )
    assert result.indication is Indication.INDETERMINATE
    assert result.sub_indication == SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert "self-signed certificate that is not a trust anchor" in result.message
    assert all(c.result == "passed" for c in result.checks if c.name.endswith(".signature"))


def test_intermediate_missing_is_indeterminate(pki):
    result = _validate(pki, pki.leaves["signer"].der, intermediates=[])
    assert result.indication is Indication.INDETERMINATE
    assert result.sub_indication == SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_tampered_certificate(pki):
    leaf = pki.leaves["signer"].cert
    # flip one byte inside the subject CN (the TBS changes, the structure stays valid)
    where = leaf.der.index("signer 证书".encode())
    tampered = bytearray(leaf.der)
    tampered[where] ^= 0x20
    reparsed = parse_certificate(bytes(tampered))
    assert reparsed.tbs_der != leaf.tbs_der
    result = _validate(pki, reparsed)
    assert result.indication is Indication.FAILED
    assert result.sub_indication == SubIndication.SIG_CRYPTO_FAILURE
    assert result.check("path[0].signature").result == "failed"
    assert result.check("path[1].signature").result == "passed"


def test_tampered_structure_is_a_clear_parse_error(pki):
    der = bytearray(pki.leaves["signer"].der)
    der[1] ^= 0x01  # outer length
    with pytest.raises(CertificateError) as err:
        validate_path(bytes(der), anchors=[pki.root.der], at=NOW)
    assert err.value.code == "bad_certificate"


def test_path_length_exceeded(pki):
    """root (pathLen 1) -> issuing CA (pathLen 0) -> another CA -> leaf: too deep."""
    sub_ca = pki.issue("issuing_ca", SubjectSpec("下级 CA"), pki.issuing)
    leaf = pki.issue("signer", SubjectSpec("太深的签章"), sub_ca)
    result = _validate(pki, leaf.der, intermediates=[sub_ca.der, pki.issuing.der])
    assert result.indication is Indication.FAILED
    assert result.sub_indication == SubIndication.CHAIN_CONSTRAINTS_FAILURE
    assert result.check("path[2].path_length").result == "failed"  # the pathLen-0 issuing CA
    assert result.check("path[3].path_length").result == "failed"  # the pathLen-1 root: 2 CAs below
    assert result.check("path[1].path_length").result == "passed"
    assert all(c.result == "passed" for c in result.checks if c.name.endswith(".signature"))


def _resign(cert, signer, issuer_name=None, drop_aki=True):
    """Re-sign ``cert``'s TBS by hand (issuance would refuse what these tests need)."""
    from asn1crypto import algos, x509

    tbs = x509.TbsCertificate.load(cert.tbs_der).copy()
    if issuer_name is not None:
        tbs["issuer"] = x509.Name.load(issuer_name.dump())
    if drop_aki:
        tbs["extensions"] = [e for e in tbs["extensions"] if e["extn_id"].native != "authority_key_identifier"]
    sig_alg = algos.SignedDigestAlgorithm({"algorithm": "1.2.156.10197.1.501"})
    return x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": sig_alg, "signature_value": signer.sign(tbs.dump())}
    ).dump()


def test_leaf_as_issuer_is_a_constraints_failure(pki):
    """A cert signed by a non-CA key fails the chain on basicConstraints, its signature is fine."""
    not_a_ca = pki.leaves["signer"]
    der = _resign(pki.leaves["seal_maker"].cert, not_a_ca.signer, issuer_name=not_a_ca.cert.subject)
    result = _validate(pki, der, intermediates=[not_a_ca.der, pki.issuing.der])
    assert result.sub_indication == SubIndication.CHAIN_CONSTRAINTS_FAILURE
    assert result.check("path[1].basic_constraints").result == "failed"
    assert result.check("path[0].signature").result == "passed"


def _crl_checker(pki, serial, revoked_at, reason="key_compromise"):
    crl = build_crl(
        issuer_cert=pki.issuing.der,
        issuer_signer=pki.issuing.signer,
        revoked=[RevokedEntry(serial, revoked_at, reason)],
        crl_number=7,
        this_update=NOW - timedelta(hours=1),
        next_update=NOW + timedelta(days=7),
    )
    root_crl = build_crl(
        issuer_cert=pki.root.der,
        issuer_signer=pki.root.signer,
        revoked=[],
        crl_number=1,
        this_update=NOW - timedelta(hours=1),
        next_update=NOW + timedelta(days=30),
    )
    return CRLRevocationChecker([crl, root_crl])


def test_revoked_via_crl(pki):
    leaf = pki.leaves["signer"]
    checker = _crl_checker(pki, leaf.cert.serial, NOW - timedelta(minutes=30))
    result = _validate(pki, leaf.der, revocation=checker)
    assert result.indication is Indication.FAILED
    assert result.sub_indication == SubIndication.REVOKED
    assert "key_compromise" in result.message
    assert result.check("path[1].revocation").result == "passed"  # the issuing CA is on the root's CRL: good


def test_revoked_after_at_passes_at_at(pki):
    """A signature made before the revocation is judged at its signing time: still valid."""
    root = pki.issue("root_ca", SubjectSpec("往日根"), None, not_before=NOW - timedelta(days=4))
    issuing = pki.issue("issuing_ca", SubjectSpec("往日 CA"), root, not_before=NOW - timedelta(days=3))
    leaf = pki.issue("signer", SubjectSpec("往日签章"), issuing, not_before=NOW - timedelta(days=2))
    revoked_at = NOW - timedelta(days=1)
    crl = build_crl(
        issuer_cert=issuing.der,
        issuer_signer=issuing.signer,
        revoked=[RevokedEntry(leaf.cert.serial, revoked_at, "key_compromise")],
        crl_number=2,
        this_update=NOW - timedelta(hours=1),
        next_update=NOW + timedelta(days=7),
    )
    checker = CRLRevocationChecker([crl])
    signing_time = revoked_at - timedelta(hours=12)
    result = _validate(
        pki, leaf.der, intermediates=[issuing.der], anchors=[root.der], revocation=checker, at=signing_time
    )
    assert result.passed, result.message
    assert "after" in result.check("path[0].revocation").detail
    for at in (revoked_at, NOW):
        later = _validate(pki, leaf.der, intermediates=[issuing.der], anchors=[root.der], revocation=checker, at=at)
        assert later.sub_indication == SubIndication.REVOKED


def test_other_serial_is_good(pki):
    checker = _crl_checker(pki, 424242, NOW - timedelta(minutes=30))
    result = _validate(pki, pki.leaves["tsa"].der, revocation=checker)
    assert result.passed
    assert result.check("path[0].revocation").result == "passed"


def test_unknown_revocation_status(pki):
    checker = CRLRevocationChecker([])  # no CRL at all
    soft = _validate(pki, pki.leaves["tsa"].der, revocation=checker)
    assert soft.passed
    assert soft.check("path[0].revocation").result == "warning"
    strict = _validate(pki, pki.leaves["tsa"].der, revocation=checker, revocation_required=True)
    assert strict.indication is Indication.INDETERMINATE
    assert strict.sub_indication == SubIndication.TRY_LATER


def test_custom_revocation_checker(pki):
    class Everything:
        def check(self, cert, issuer, at):
            return RevocationStatus(
                "revoked", revoked_at=datetime(2000, 1, 1, tzinfo=UTC), reason="superseded", source="test"
            )

    result = _validate(pki, pki.leaves["tsa"].der, revocation=Everything())
    assert result.sub_indication == SubIndication.REVOKED


def _impostor_ca(pki):
    """Another CA with exactly the issuing CA's name but its own key."""
    from ca import ISSUING_CA, issue_certificate

    signer = pki.new_signer()
    der = issue_certificate(
        profile=ISSUING_CA,
        subject=SubjectSpec(
            "江苏省市场监督管理局 CA",
            organization="江苏省市场监督管理局",
            province="江苏省",
            organization_identifier="11320000014000123X",
        ),
        public_key=signer.public_key,
        issuer_signer=pki.root.signer,
        issuer_cert=pki.root.der,
        not_after=pki.issuing.cert.not_after + timedelta(days=1),  # newer: tried first
    )
    return parse_certificate(der)


def test_same_name_candidate_excluded_by_key_identifier(pki):
    impostor = _impostor_ca(pki)
    result = _validate(pki, pki.leaves["signer"].der, intermediates=[impostor.der, pki.issuing.der])
    assert result.passed
    assert result.path[1] == pki.issuing.cert


def test_same_name_candidates_tried_until_signature_verifies(pki):
    """Without an AKI, both same-name CAs are candidates; the one whose signature verifies wins."""
    impostor = _impostor_ca(pki)
    leaf = _resign(pki.leaves["signer"].cert, pki.issuing.signer)
    assert parse_certificate(leaf).aki is None
    result = _validate(pki, leaf, intermediates=[impostor.der, pki.issuing.der])
    assert result.passed, result.message
    assert result.path[1] == pki.issuing.cert
    only_impostor = _validate(pki, leaf, intermediates=[impostor.der])
    assert only_impostor.sub_indication == SubIndication.SIG_CRYPTO_FAILURE


def test_naive_time_rejected(pki):
    with pytest.raises(ValueError):
        validate_path(pki.leaves["signer"].der, anchors=[pki.root.der], at=datetime(2030, 1, 1))


def test_result_as_dict(pki):
    result = _validate(pki, pki.leaves["signer"].der)
    data = result.as_dict()
    assert data["indication"] == "PASSED" and data["sub_indication"] is None
    assert data["anchor"] == pki.root.cert.sha256
    assert {"name", "result", "detail"} == set(data["checks"][0])


def test_an_intermediate_ca_without_key_cert_sign_fails(pki) -> None:
    """Only a trust anchor's own keyUsage is not a constraint (RFC 5280 §6.1); every CA below it
    must have keyCertSign. Issuance refuses such a CA, so build one by re-signing ours."""
    from asn1crypto import x509 as asn1_x509

    from ca.results import Indication, SubIndication

    original = asn1_x509.Certificate.load(pki.issuing.der)
    tbs = asn1_x509.TbsCertificate.load(original["tbs_certificate"].dump())
    for ext in tbs["extensions"]:
        if ext["extn_id"].native == "key_usage":
            ext["extn_value"] = asn1_x509.KeyUsage({"digital_signature", "crl_sign"})
    tbs_der = tbs.dump(force=True)
    crippled = asn1_x509.Certificate(
        {
            "tbs_certificate": asn1_x509.TbsCertificate.load(tbs_der),
            "signature_algorithm": original["signature_algorithm"],
            "signature_value": pki.root.signer.sign(tbs_der),
        }
    ).dump()
    leaf = pki.leaves["signer"]
    result = validate_path(leaf.der, intermediates=[crippled], anchors=[pki.root.der], at=leaf.cert.not_before)
    assert result.indication is Indication.FAILED
    assert result.sub_indication == SubIndication.CHAIN_CONSTRAINTS_FAILURE
    assert result.check("path[1].key_usage").result == "failed"
    assert result.check("path[1].signature").result == "passed"
