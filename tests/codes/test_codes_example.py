"""The worked example in docs/service-code.md, decoded byte for byte and verified (also by
gmalg, an independent SM2), so the document cannot drift from the code."""

from __future__ import annotations

import datetime as dt
import zlib

import base45
import cbor2
import gmalg
from asn1crypto import pem
from code_example import CLAIMS, IAT, example_blocks

from ca.certs import parse_certificate
from ca.results import Indication
from trustsvc.codes.format import ALG_SM2_SM3, decode_code, kid_for, sig_structure
from trustsvc.codes.material import CodeTrust
from trustsvc.codes.verify import verify_code_common
from trustsvc.trust import TrustContext


def _hex(block: str) -> bytes:
    return bytes.fromhex("".join(block.split()))


def _der(block: str) -> bytes:
    return pem.unarmor(block.encode("ascii"))[2]


def test_every_layer_of_the_documented_example_matches_byte_for_byte():
    blocks = example_blocks()
    text = blocks["code"]
    assert text.startswith("TS1:") and "\n" not in text
    compressed = base45.b45decode(text[4:])
    assert compressed == _hex(blocks["zlib"])
    assert compressed[:2] == b"\x78\xda"
    cose = zlib.decompress(compressed)
    assert cose == _hex(blocks["cose"])
    code = decode_code(text)
    assert code.cose == cose
    assert code.protected == _hex(blocks["protected"])
    assert cbor2.loads(code.protected) == {1: ALG_SM2_SM3, 4: _hex(blocks["kid"])}
    assert code.kid == _hex(blocks["kid"]) == kid_for(_der(blocks["signer_cert"]))
    assert code.payload == _hex(blocks["payload"])
    assert code.to_be_signed == _hex(blocks["sig_structure"]) == sig_structure(code.protected, code.payload)
    assert code.signature == _hex(blocks["signature"]) and len(code.signature) == 64
    assert code.claims == CLAIMS


def test_the_documented_example_signature_verifies_in_gmalg():
    blocks = example_blocks()
    code = decode_code(blocks["code"])
    point = parse_certificate(_der(blocks["signer_cert"])).public_key_point
    oracle = gmalg.SM2(pk=point, uid=b"1234567812345678")
    r, s = code.signature[:32], code.signature[32:]
    assert oracle.verify(code.to_be_signed, r, s)
    assert not oracle.verify(code.to_be_signed + b"\x00", r, s)


def _example_trust() -> CodeTrust:
    blocks = example_blocks()
    signer = _der(blocks["signer_cert"])
    return CodeTrust(trust=TrustContext(anchors=(_der(blocks["root_cert"]),),
                                        anchor_info={parse_certificate(_der(blocks["root_cert"])).sha256:
                                                     {"region": "320000", "source": "example"}}),
                     signers={kid_for(signer): (signer,)}, source="example")


def test_the_documented_example_verifies_before_exp_and_is_expired_after():
    text = example_blocks()["code"]
    builder, code = verify_code_common(text, material=_example_trust(), now=IAT + dt.timedelta(seconds=60))
    report = builder.build()
    assert report.indication is Indication.PASSED, report.message
    assert code is not None and report.object["licence"] == CLAIMS.sub
    assert report.object["expires_at"] == "2026-12-01T02:02:00Z"
    late, _ = verify_code_common(text, material=_example_trust(), now=IAT + dt.timedelta(seconds=121))
    report = late.build()
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "EXPIRED")
    assert "2026-12-01T02:02:00Z" in report.message
