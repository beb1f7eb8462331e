"""OID registration (once, both maps, specs) and distinguished names."""

from __future__ import annotations

import pytest
from asn1crypto import algos, cms, core, keys, x509

import ca
from ca import PKIXOID, SMOID, SubjectSpec, TrustSvcEKU, build_name, format_name, name_key
from ca.oids import register_oid, register_spec


@pytest.mark.parametrize(
    ("cls", "dotted", "name"),
    [
        (algos.SignedDigestAlgorithmId, "1.2.156.10197.1.501", "sm2_sm3"),
        (algos.SignedDigestAlgorithmId, "1.2.156.10197.1.301.1", "sm2_sign"),
        (algos.DigestAlgorithmId, "1.2.156.10197.1.401", "sm3"),
        (keys.PublicKeyAlgorithmId, "1.2.156.10197.1.301", "sm2"),
        (keys.NamedCurve, "1.2.156.10197.1.301", "sm2p256v1"),
        (cms.ContentType, "1.2.156.10197.6.1.4.2.1", "gm_data"),
        (cms.ContentType, "1.2.156.10197.6.1.4.2.2", "gm_signed_data"),
        (cms.ContentType, "1.2.156.10197.6.1.4.2.3", "gm_enveloped_data"),
        (cms.ContentType, "1.2.156.10197.6.1.4.2.4", "gm_signed_and_enveloped_data"),
        (cms.ContentType, "1.2.156.10197.6.1.4.2.5", "gm_encrypted_data"),
        (cms.ContentType, "1.2.156.10197.6.1.4.2.6", "gm_key_agreement_info"),
        (x509.KeyPurposeId, "1.3.6.1.5.5.7.3.36", "document_signing"),
        (x509.KeyPurposeId, TrustSvcEKU.SEAL_MAKER, "seal_maker"),
        (x509.KeyPurposeId, TrustSvcEKU.ESEAL_SIGNER, "eseal_signer"),
        (x509.KeyPurposeId, TrustSvcEKU.TRUST_LIST_SIGNING, "trust_list_signing"),
        (x509.KeyPurposeId, TrustSvcEKU.SERVICE_CODE_SIGNING, "service_code_signing"),
        (x509.KeyPurposeId, TrustSvcEKU.STATUS_LIST_SIGNING, "status_list_signing"),
    ],
)
def test_registered_both_ways(cls, dotted, name):
    assert cls.map(dotted) == name
    assert cls.unmap(name) == dotted
    value = cls(name)
    assert value.dotted == dotted and cls.load(value.dump()).native == name


def test_registration_is_idempotent_and_guarded():
    before = dict(algos.SignedDigestAlgorithmId._map)
    ca.register_oids()
    register_oid(algos.SignedDigestAlgorithmId, SMOID.SM2_WITH_SM3, "sm2_sm3")  # same again: fine
    assert algos.SignedDigestAlgorithmId._map == before
    with pytest.raises(RuntimeError):
        register_oid(algos.SignedDigestAlgorithmId, SMOID.SM2_WITH_SM3, "something_else")
    with pytest.raises(RuntimeError):
        register_oid(algos.SignedDigestAlgorithmId, "1.2.3.4", "sm2_sm3")
    with pytest.raises(RuntimeError):
        register_spec(cms.ContentInfo, "gm_data", cms.SignedData)


def test_uuid_arc():
    assert ca.TRUSTSVC_ARC.startswith("2.25.")
    assert [TrustSvcEKU.SEAL_MAKER, TrustSvcEKU.STATUS_LIST_SIGNING] == [
        ca.TRUSTSVC_ARC + ".1.1",
        ca.TRUSTSVC_ARC + ".1.5",
    ]
    assert PKIXOID.DOCUMENT_SIGNING == "1.3.6.1.5.5.7.3.36"


def test_gm_content_specs():
    data = cms.ContentInfo({"content_type": "gm_data", "content": core.OctetString(b"hello")})
    parsed = cms.ContentInfo.load(data.dump())
    assert parsed["content_type"].dotted == SMOID.GM_DATA
    assert isinstance(parsed["content"], core.OctetString)
    assert parsed["content"].native == b"hello"
    assert cms.ContentInfo._oid_specs["gm_signed_data"] is cms.SignedData
    assert cms.EncapsulatedContentInfo._oid_specs["gm_signed_data"] is cms.SignedData


def test_gm_signed_data_interop_parses(interop_dir):
    """CFCA SADK GM/T 0010 SignedData: names resolve, content parses (no asn1crypto name lookups fail)."""
    info = cms.ContentInfo.load((interop_dir / "cms" / "gmsm_cfca_sadk_attached.p7b").read_bytes())
    assert info["content_type"].native == "gm_signed_data"
    signed = info["content"]
    assert signed["encap_content_info"]["content_type"].native == "gm_data"
    signer = signed["signer_infos"][0]
    assert signer["digest_algorithm"]["algorithm"].native == "sm3"
    assert signer["signature_algorithm"]["algorithm"].native == "sm2_sign"


def test_sm2_oid_spki_parses_as_ec_point(interop_dir):
    cert = x509.Certificate.load(
        ca.parse_certificate((interop_dir / "certs" / "tongsuo_sm2-root-cert.pem").read_bytes()).der
    )
    spki = cert["tbs_certificate"]["subject_public_key_info"]
    assert spki["algorithm"]["algorithm"].native == "sm2"
    assert spki["algorithm"]["parameters"].chosen.native == "sm2p256v1"
    assert isinstance(spki["public_key"], keys.ECPointBitString)
    x, y = spki["public_key"].to_coords()
    assert x > 0 and y > 0


def test_subject_round_trip_and_types():
    spec = SubjectSpec(
        "江苏省市场监督管理局电子印章",
        organization="江苏省市场监督管理局",
        organizational_unit="信息中心",
        province="江苏省",
        locality="南京市",
        organization_identifier="11320000014000123X",
    )
    name = x509.Name.load(spec.to_name().dump())
    assert format_name(name) == (
        "C=CN, ST=江苏省, L=南京市, O=江苏省市场监督管理局, OU=信息中心, CN=江苏省市场监督管理局电子印章, "
        "organizationIdentifier=11320000014000123X"
    )
    kinds = {atv["type"].native: atv["value"].name for rdn in name.chosen for atv in rdn}
    assert kinds.pop("country_name") == "printable_string"
    assert set(kinds.values()) == {"utf8_string"}
    assert name.native["common_name"] == "江苏省市场监督管理局电子印章"


def test_name_key_is_rfc5280_comparison():
    a = build_name(SubjectSpec("Test  CA", organization="ACME"))
    b = x509.Name.build(
        {"country_name": "CN", "organization_name": "acme", "common_name": "test ca"}, use_printable=True
    )
    assert name_key(a) == name_key(b)
    assert name_key(a) != name_key(build_name(SubjectSpec("Other CA", organization="ACME")))


@pytest.mark.parametrize(
    "kwargs", [{"common_name": ""}, {"common_name": "x", "country": "CHN"}, {"common_name": "x", "country": "中国"}]
)
def test_subject_spec_validation(kwargs):
    with pytest.raises(ValueError):
        SubjectSpec(**kwargs)


def test_format_name_escapes():
    name = build_name(SubjectSpec("a,b=c", organization="x+y"))
    assert format_name(name) == r"C=CN, O=x\+y, CN=a\,b\=c"


def test_sm2_spki_parses_after_pyhanko_certvalidator_patches_asn1crypto(interop_dir):
    """pyhanko-certvalidator replaces PublicKeyInfo's public_key spec callback when it is
    imported; SM2 keys must still parse as EC points whatever the import order."""
    import pyhanko_certvalidator.asn1_types  # noqa: F401  (its import installs the wrapper)

    test_sm2_oid_spki_parses_as_ec_point(interop_dir)
