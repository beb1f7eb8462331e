"""Signature time-stamps on CMS SignedData (ca.cms_timestamp): the token goes into the signer's
unsigned attributes without touching a signed byte, can be read back, and covers the signature."""

from __future__ import annotations

import pytest
from asn1crypto import cms

import hsm
from ca import TimeStampAuthority, sign_cms, verify_cms, verify_timestamp_token
from ca.cms import CMSError
from ca.cms_timestamp import SIGNATURE_TIME_STAMP_TOKEN, add_signature_timestamp, signer_timestamp_parts
from ca.oids import TRUSTSVC_ARC

CONTENT = "营业执照 PDF ByteRange 内容".encode()


@pytest.fixture(scope="module")
def signed(pki) -> bytes:
    leaf = pki.leaves["signer"]
    return sign_cms(CONTENT, signer=leaf.signer, signer_cert=leaf.der, extra_certs=[pki.issuing.der, pki.root.der])


@pytest.fixture(scope="module")
def tsa(pki) -> TimeStampAuthority:
    leaf = pki.leaves["tsa"]
    return TimeStampAuthority(leaf.signer, leaf.der, [pki.issuing.der, pki.root.der], policy_oid=TRUSTSVC_ARC + ".2.1")


def test_token_added_as_unsigned_attribute_keeps_signature_valid(signed, tsa) -> None:
    parts = signer_timestamp_parts(signed)
    assert parts.tokens == ()
    token = tsa.stamp(hsm.sm3(parts.signature))
    stamped = add_signature_timestamp(signed, token)
    assert stamped != signed
    check = verify_cms(stamped, detached_content=CONTENT)
    assert check.valid, [c for c in check.checks if c.failed]
    info = cms.ContentInfo.load(stamped)
    signer = info["content"]["signer_infos"][0]
    before = cms.ContentInfo.load(signed)["content"]["signer_infos"][0]
    assert signer["signed_attrs"].dump() == before["signed_attrs"].dump()
    assert [a["type"].dotted for a in signer["unsigned_attrs"]] == [SIGNATURE_TIME_STAMP_TOKEN]
    again = signer_timestamp_parts(stamped)
    assert again.signature == parts.signature and again.tokens == (token,)
    assert verify_timestamp_token(again.tokens[0], data=again.signature).valid
    assert not verify_timestamp_token(again.tokens[0], data=again.signature + b"x").valid


def test_second_timestamp_and_garbage_are_refused(signed, tsa) -> None:
    token = tsa.stamp(hsm.sm3(signer_timestamp_parts(signed).signature))
    stamped = add_signature_timestamp(signed, token)
    with pytest.raises(CMSError) as exc:
        add_signature_timestamp(stamped, token)
    assert exc.value.code == "already_timestamped"
    with pytest.raises(CMSError):
        add_signature_timestamp(signed, b"\x30\x03\x02\x01\x01")
    for junk in (b"", b"\x30\x00", b"not der", signed[:-3], token[:40]):
        with pytest.raises(CMSError):
            signer_timestamp_parts(junk)
