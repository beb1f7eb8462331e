"""The worked example in docs/holder-code.md, decoded byte for byte and verified (both SM2
signatures also by gmalg, an independent SM2, and the digests by gmalg's SM3), so the document
cannot drift from the code."""

from __future__ import annotations

import datetime as dt
import zlib

import base45
import cbor2
import gmalg
from asn1crypto import pem
from holder_example import DISCLOSED, FIELDS, IAT, MSO_CLAIMS, NONCE, PURPOSE, TTL, example_blocks, salt

from ca.certs import parse_certificate
from ca.results import Indication
from trustsvc.codes.format import ALG_SM2_SM3, kid_for, sig_structure
from trustsvc.codes.material import CodeTrust
from trustsvc.formats.trust import TrustContext
from trustsvc.holder.format import decode_envelope
from trustsvc.holder.material import MaterialHolderTrust, StatusAnswer
from trustsvc.holder.mso import encode_mso
from trustsvc.holder.verify import verify_holder_text
from trustsvc.licences.status import LicenceStatus


def _hex(block: str) -> bytes:
    return bytes.fromhex("".join(block.split()))


def _der(block: str) -> bytes:
    return pem.unarmor(block.encode("ascii"))[2]


def _gmalg_sm3(data: bytes) -> bytes:
    h = gmalg.SM3()
    h.update(data)
    return h.value()


def test_every_layer_of_the_presentation_matches_byte_for_byte():
    blocks = example_blocks()
    text = blocks["code"]
    assert text.startswith("TS1:") and "\n" not in text
    compressed = base45.b45decode(text[4:])
    assert compressed == _hex(blocks["zlib"]) and compressed[:2] == b"\x78\xda"
    cose = zlib.decompress(compressed)
    assert cose == _hex(blocks["cose"])
    env = decode_envelope(text)
    assert env.cose == cose and env.typ == "presentation"
    assert env.sign1.protected == _hex(blocks["protected"])
    assert cbor2.loads(env.sign1.protected) == {1: ALG_SM2_SM3, 4: _hex(blocks["kid"])}
    assert env.sign1.kid == _hex(blocks["kid"]) == kid_for(_der(blocks["code_signer_cert"]))
    assert env.sign1.payload == _hex(blocks["payload"])
    assert (
        env.sign1.to_be_signed == _hex(blocks["sig_structure"]) == sig_structure(env.sign1.protected, env.sign1.payload)
    )
    assert env.sign1.signature == _hex(blocks["signature"]) and len(env.sign1.signature) == 64
    claims = cbor2.loads(env.sign1.payload)
    assert set(claims) == {1, 4, 6, 7, "typ", "pur", "docs"}
    assert (claims[1], claims[6], claims[4] - claims[6], claims[7], claims["pur"], claims["typ"]) == (
        "320000",
        int(IAT.timestamp()),
        TTL,
        NONCE,
        PURPOSE,
        "presentation",
    )
    doc = claims["docs"][0]
    assert cbor2.dumps(doc["mso"], canonical=True) == _hex(blocks["mso"])
    assert [[n, s, v] for n, s, v in doc["f"]] == [[n, salt(n), FIELDS[n]] for n in DISCLOSED]


def test_the_mso_matches_byte_for_byte_and_signs_every_field():
    blocks = example_blocks()
    mso = decode_envelope(blocks["code"]).claims.licences[0].mso
    assert mso.sign1.protected == _hex(blocks["mso_protected"])
    assert cbor2.loads(mso.sign1.protected) == {1: ALG_SM2_SM3, 4: _hex(blocks["mso_kid"])}
    assert mso.sign1.kid == kid_for(_der(blocks["department_cert"]))
    assert mso.sign1.payload == _hex(blocks["mso_payload"]) == encode_mso(MSO_CLAIMS)
    assert mso.sign1.signature == _hex(blocks["mso_signature"])
    assert mso.claims == MSO_CLAIMS and set(mso.claims.digests) == set(FIELDS)


def test_the_disclosed_digests_recompute_with_gmalg_sm3():
    blocks = example_blocks()
    digests = decode_envelope(blocks["code"]).claims.licences[0].mso.claims.digests
    for name in DISCLOSED:
        lines = dict(line.split() for line in blocks[f"disclosure_{name}"].splitlines())
        item = bytes.fromhex(lines["cbor"])
        assert bytes.fromhex(lines["salt"]) == salt(name)
        assert cbor2.loads(item) == [name, FIELDS[name]]
        digest = _gmalg_sm3(bytes.fromhex(lines["salt"]) + item)[:16]
        assert digest == bytes.fromhex(lines["digest"]) == digests[name]


def test_both_signatures_verify_in_gmalg():
    blocks = example_blocks()
    env = decode_envelope(blocks["code"])
    mso = env.claims.licences[0].mso
    for message, cert in ((env.sign1, "code_signer_cert"), (mso.sign1, "department_cert")):
        oracle = gmalg.SM2(pk=parse_certificate(_der(blocks[cert])).public_key_point, uid=b"1234567812345678")
        r, s = message.signature[:32], message.signature[32:]
        assert oracle.verify(message.to_be_signed, r, s), cert
        assert not oracle.verify(message.to_be_signed + b"\x00", r, s)


class _Active(MaterialHolderTrust):
    def licence_status(self, identifier, status_index, now):  # the example licence is active
        return StatusAnswer(LicenceStatus(identifier, "active", None, None, None))


def _example_trust() -> _Active:
    blocks = example_blocks()
    root, dept, code = (_der(blocks[k]) for k in ("root_cert", "department_cert", "code_signer_cert"))
    trust = TrustContext(
        anchors=(root,), anchor_info={parse_certificate(root).sha256: {"region": "320000", "source": "example"}}
    )
    return _Active(
        codes=CodeTrust(trust=trust, signers={kid_for(code): (code,)}, source="example"),
        issuers={("11320000MB0000001G", kid_for(dept)): (dept,)},
    )


def test_the_example_verifies_before_exp_and_is_expired_after():
    text = example_blocks()["code"]
    report = verify_holder_text(text, trust=_example_trust(), now=IAT + dt.timedelta(seconds=60))
    assert report.indication is Indication.PASSED, report.message
    entry = report.object["licences"][0]
    assert entry["disclosed"] == {n: FIELDS[n] for n in DISCLOSED}
    assert set(entry["withheld"]) == {"holder_name", "holder_id", "entity_type", "legal_representative"}
    assert report.object["expires_at"] == "2026-12-01T02:02:00Z"
    late = verify_holder_text(text, trust=_example_trust(), now=IAT + dt.timedelta(seconds=TTL + 1))
    assert (late.indication, late.sub_indication) == (Indication.FAILED, "EXPIRED")
    assert "2026-12-01T02:02:00Z" in late.message
