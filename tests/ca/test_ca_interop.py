"""One test per file in ``interop/certs``, each reaching the verdict MANIFEST.md gives it.

The files are read in place (never copied into this repository).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import hsm
from ca import (
    SIGNING_KEY_USAGE,
    Indication,
    SubIndication,
    load_certificates,
    parse_certificate,
    parse_csr,
    validate_path,
    verify_certificate_signature,
    verify_csr,
)

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def certs(interop_dir):
    def load(name: str):
        return load_certificates((interop_dir / "certs" / name).read_bytes())

    return load


def _signature_checks(result):
    return {c.name: c.result for c in result.checks if c.name.endswith(".signature")}


def test_tongsuo_three_level_chain_passes(certs):
    """client_sign.crt -> sub ca -> root ca: OpenSSL 3.0 fails this at depth 1; we do not."""
    root, sub = certs("tongsuo_sm2_chain-ca.crt")
    assert root.is_self_issued and not sub.is_self_issued
    (leaf,) = certs("tongsuo_sm2_client_sign.crt")
    result = validate_path(leaf, intermediates=[sub], anchors=[root], at=NOW, required_key_usage=SIGNING_KEY_USAGE)
    assert result.indication is Indication.PASSED, result.message
    assert result.path == (leaf, sub, root)
    assert set(_signature_checks(result).values()) == {"passed"}


def test_tongsuo_bundle_as_intermediates(certs):
    """The whole bundle may be passed as untrusted intermediates; only the root is an anchor."""
    bundle = certs("tongsuo_sm2_chain-ca.crt")
    (leaf,) = certs("tongsuo_sm2_client_sign.crt")
    assert validate_path(leaf, intermediates=bundle, anchors=bundle[:1], at=NOW).passed


def test_tongsuo_client_sign_expire_is_expired(certs):
    root, sub = certs("tongsuo_sm2_chain-ca.crt")
    (leaf,) = certs("tongsuo_sm2_client_sign_expire.crt")
    result = validate_path(leaf, intermediates=[sub], anchors=[root], at=NOW)
    assert result.indication is Indication.FAILED
    assert result.sub_indication == SubIndication.EXPIRED
    assert result.check("path[0].signature").result == "passed"
    # within its own validity the signature and the path are fine: time is the only problem
    at_2000 = datetime(2000, 6, 1, tzinfo=UTC)
    early = validate_path(leaf, intermediates=[sub], anchors=[root], at=at_2000)
    assert early.sub_indication == SubIndication.NOT_YET_VALID  # the CAs only start in 2023


def test_tongsuo_client_enc_refused_for_signing(certs):
    root, sub = certs("tongsuo_sm2_chain-ca.crt")
    (leaf,) = certs("tongsuo_sm2_client_enc.crt")
    chain_only = validate_path(leaf, intermediates=[sub], anchors=[root], at=NOW)
    assert chain_only.passed  # the chain itself is valid
    result = validate_path(leaf, intermediates=[sub], anchors=[root], at=NOW, required_key_usage=SIGNING_KEY_USAGE)
    assert result.indication is Indication.FAILED
    assert result.check("leaf.key_usage").result == "failed"
    assert "key_encipherment" in result.message


def test_tongsuo_sm2_cert_passes_under_its_root(certs):
    """Subject == issuer, yet not self-signed: it verifies under the root, not itself."""
    (root,) = certs("tongsuo_sm2-root-cert.pem")
    (cert,) = certs("tongsuo_sm2-cert.pem")
    assert cert.is_self_issued
    assert cert.public_key_algorithm_oid == "1.2.156.10197.1.301"  # the SM2-OID SPKI form
    with pytest.raises(hsm.InvalidSignature):
        verify_certificate_signature(cert, cert.spki)
    result = validate_path(cert, anchors=[root], at=NOW)
    assert result.indication is Indication.PASSED, result.message
    assert result.path == (cert, root)
    alone = validate_path(cert, anchors=[], at=NOW)
    assert alone.sub_indication == SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_tongsuo_sm2_root_self_signature(certs):
    (root,) = certs("tongsuo_sm2-root-cert.pem")
    verify_certificate_signature(root, root.spki)
    assert validate_path(root, anchors=[root], at=NOW).passed


def test_tongsuo_first_crt_passes(certs):
    (root,) = certs("tongsuo_sm2-root-cert.pem")
    (cert,) = certs("tongsuo_sm2-first-crt.pem")
    result = validate_path(cert, anchors=[root], at=NOW, required_key_usage=SIGNING_KEY_USAGE)
    assert result.indication is Indication.PASSED, result.message


def test_tongsuo_noza_cert_fails_crypto(certs):
    (root,) = certs("tongsuo_sm2-noza-root-cert.pem")
    (cert,) = certs("tongsuo_sm2-noza-cert.pem")
    result = validate_path(cert, anchors=[root], at=NOW)
    assert result.indication is Indication.FAILED
    assert result.sub_indication == SubIndication.SIG_CRYPTO_FAILURE
    assert result.check("path[0].signature").result == "failed"


def test_tongsuo_noza_root_self_signature_invalid(certs):
    (root,) = certs("tongsuo_sm2-noza-root-cert.pem")
    with pytest.raises(hsm.InvalidSignature):
        verify_certificate_signature(root, root.spki)
    # Configured as a trust anchor it is trusted as configured (RFC 5280 §6.1): its broken
    # self-signature is shown as a warning, not a path failure (the MANIFEST's verdict is on the
    # signature, which stays invalid).
    result = validate_path(root, anchors=[root], at=NOW)
    assert result.indication is Indication.PASSED, result.message
    assert result.check("path[0].signature").result == "warning"
    assert "does not verify" in result.check("path[0].signature").detail
    # not trusted and not self-signed (its self-signature is broken): no chain at all
    assert validate_path(root, at=NOW).sub_indication == SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_tongsuo_sm2_cert_as_its_own_anchor(certs):
    """Self-issued name, signed by another key: as an anchor it is trusted as configured, like
    any anchor; its signature under its own key is a warning, not a failure."""
    (cert,) = certs("tongsuo_sm2-cert.pem")
    result = validate_path(cert, anchors=[cert], at=NOW)
    assert result.indication is Indication.PASSED, result.message
    assert result.check("path[0].signature").result == "warning"


@pytest.mark.parametrize(
    ("name", "not_after"),
    [
        ("ofdrw_user.pem", datetime(2022, 4, 21, 14, 39, 8, tzinfo=UTC)),
        ("ofdrw_sealbuilder.pem", datetime(2022, 4, 21, 14, 39, 38, tzinfo=UTC)),
        ("ofdrw_sign_cert.pem", datetime(2023, 7, 29, 11, 37, 34, tzinfo=UTC)),
    ],
)
def test_ofdrw_certs(certs, name, not_after):
    (root,) = certs("ofdrw_root.pem")
    (cert,) = certs(name)
    assert cert.not_after == not_after
    # within validity: PASSED. The root lacks keyCertSign, but a trust anchor is trusted as
    # configured (RFC 5280 §6.1 does not process its extensions); that is reported as a warning.
    # (OpenSSL's error 32 for this root is its own stricter policy, see MANIFEST.)
    inside = validate_path(
        cert, anchors=[root], at=not_after.replace(year=not_after.year - 1), required_key_usage=SIGNING_KEY_USAGE
    )
    assert inside.indication is Indication.PASSED, inside.message
    assert inside.check("path[1].key_usage").result == "warning"
    assert "keyCertSign" in inside.check("path[1].key_usage").detail
    # now: expired; the link signature itself is valid
    now = validate_path(cert, anchors=[root], at=NOW)
    assert now.indication is Indication.FAILED
    assert now.sub_indication == SubIndication.EXPIRED
    assert now.check("path[0].validity").result == "failed"
    assert now.check("path[0].signature").result == "passed"
    assert now.check("path[1].signature").result == "passed"  # the root's self-signature


def test_ofdrw_root_self_signature_valid(certs):
    (root,) = certs("ofdrw_root.pem")
    verify_certificate_signature(root, root.spki)
    assert root.is_ca and "key_cert_sign" not in root.key_usage


def test_tjfoc_leaf_passes_under_tjfoc_root(certs):
    (root,) = certs("tjfoc_SM2_CA.cer")
    (leaf,) = certs("tjfoc_sm2_sign_cert.cer")
    assert root.subject_str == "C=CN, ST=浙江, L=杭州, O=测试CA"
    result = validate_path(leaf, anchors=[root], at=NOW, required_key_usage=SIGNING_KEY_USAGE)
    assert result.indication is Indication.PASSED, result.message


def test_sheca_intermediate_with_null_parameters(certs):
    (cert,) = certs("gmsm_sheca_sm2_ca.pem")
    assert cert.signature_algorithm_oid == "1.2.156.10197.1.501"
    assert cert.signature_parameters_der == b"\x05\x00"  # explicit NULL
    assert cert.issuer_str == "C=CN, O=NRCAC, CN=ROOTCA"
    result = validate_path(cert, at=NOW)
    assert result.indication is Indication.INDETERMINATE
    assert result.sub_indication == SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert "NRCAC" in result.message


def test_gmssl_cn_pkcs7_chain(certs):
    root, middle = certs("gmsm_gmssl_cn_certchain.p7b.pem")
    assert root.subject_str.endswith("CN=RootCA for Test")
    assert middle.subject_str.endswith("CN=MiddleCA for Test")
    assert root.signature_parameters_der == b"\x05\x00"
    verify_certificate_signature(middle, root.spki)
    verify_certificate_signature(root, root.spki)
    result = validate_path(middle, anchors=[root], at=NOW)
    assert result.indication is Indication.PASSED, result.message
    assert set(_signature_checks(result).values()) == {"passed"}


def test_gmssl_cn_pkcs7_der_form(interop_dir):
    from asn1crypto import pem

    _, _, der = pem.unarmor((interop_dir / "certs" / "gmsm_gmssl_cn_certchain.p7b.pem").read_bytes())
    assert [c.subject_str.split("CN=")[1] for c in load_certificates(der)] == ["RootCA for Test", "MiddleCA for Test"]


def test_ali_kms_csr(interop_dir):
    data = (interop_dir / "certs" / "gmsm_ali_kms_sm2_csr.pem").read_bytes()
    csr = verify_csr(data)
    assert "CN=CargoSmart" in csr.subject_str
    # two extensionRequest attributes, one extension each: both are read
    assert csr.requested_extensions == ("key_identifier", "subject_alt_name")
    assert parse_csr(data) == csr


def test_every_interop_certificate_parses(interop_dir):
    """Guard: every certificate file listed here parses (a new file gets noticed)."""
    names = sorted(p.name for p in (interop_dir / "certs").iterdir())
    covered = {
        "gmsm_ali_kms_sm2_csr.pem",
        "gmsm_gmssl_cn_certchain.p7b.pem",
        "gmsm_sheca_sm2_ca.pem",
        "ofdrw_root.pem",
        "ofdrw_sealbuilder.pem",
        "ofdrw_sign_cert.pem",
        "ofdrw_user.pem",
        "tjfoc_SM2_CA.cer",
        "tjfoc_sm2_sign_cert.cer",
        "tongsuo_sm2-cert.pem",
        "tongsuo_sm2-first-crt.pem",
        "tongsuo_sm2-noza-cert.pem",
        "tongsuo_sm2-noza-root-cert.pem",
        "tongsuo_sm2-root-cert.pem",
        "tongsuo_sm2_chain-ca.crt",
        "tongsuo_sm2_client_enc.crt",
        "tongsuo_sm2_client_sign.crt",
        "tongsuo_sm2_client_sign_expire.crt",
    }
    assert set(names) == covered
    for name in names:
        if name.endswith("_csr.pem"):
            continue
        for cert in load_certificates((interop_dir / "certs" / name).read_bytes()):
            assert parse_certificate(cert.der) is cert  # cached per DER
