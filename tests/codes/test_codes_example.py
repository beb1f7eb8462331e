"""The worked example in docs/service-code.md, decoded byte for byte and verified (also by
gmalg, an independent SM2, and by the region verifier with the example root as this region's
anchor), so the document cannot drift from the code."""

from __future__ import annotations

import datetime as dt
import json
import zlib
from pathlib import Path

import base45
import cbor2
import gmalg
from asn1crypto import pem
from code_example import CLAIMS, IAT, ROOT_SCALAR, example_blocks, scalar_signer

from ca import SubjectSpec, issue_certificate
from ca.certs import parse_certificate
from ca.cms import sign_cms
from ca.results import Indication
from hsm import sm3
from hsm.encoding import SM2_N
from trustsvc.codes.format import ALG_SM2_SM3, decode_code, kid_for, sig_structure
from trustsvc.codes.material import CACHE_FORMAT, STATUS_DIR, TRUST_FILE
from trustsvc.federation.snapshot import load_snapshot_cache
from trustsvc.formats.canonical import canonical_json
from trustsvc.status_lists import BLOCK_BITS, STATUS_LIST_CONTENT_TYPE, STATUS_LIST_FORMAT, encode_bitstring
from trustsvc.verifier import verify_code


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


def _iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _example_cache(directory: Path) -> Path:
    """A code cache (``trustsvc code cache``'s layout) whose region has the example root, its
    code signer and a status-list signer with the issuer's list, all active: what an offline
    verifier of the example's region would hold on 2026-12-01."""
    blocks = example_blocks()
    root, signer = _der(blocks["root_cert"]), _der(blocks["signer_cert"])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    list_key = scalar_signer(int.from_bytes(sm3(b"trustsvc example status lists"), "big") % (SM2_N - 2) + 1, "lists")
    list_cert = issue_certificate(
        profile="status_list_signer",
        subject=SubjectSpec("示例状态列表签名", organization="江苏省"),
        public_key=list_key.public_key,
        issuer_signer=scalar_signer(ROOT_SCALAR, "root"),
        issuer_cert=root,
        serial=3,
        not_before=start,
        not_after=start.replace(year=2028),
    )
    issued = IAT - dt.timedelta(minutes=5)
    empty = encode_bitstring(bytes(BLOCK_BITS // 8))
    issuer = CLAIMS.sub.split(".")[6]
    content = canonical_json(
        {
            "format": STATUS_LIST_FORMAT,
            "issuer": {"uscc": issuer, "name": CLAIMS.display["o"]},
            "region": {"code": "320000", "name": "江苏省"},
            "sequence": 1,
            "issued_at": _iso(issued),
            "next_update": _iso(issued + dt.timedelta(hours=1)),
            "size": BLOCK_BITS,
            "revocation": empty,
            "suspension": empty,
        }
    )
    status = sign_cms(
        content,
        signer=list_key,
        signer_cert=list_cert,
        detached=False,
        content_type=STATUS_LIST_CONTENT_TYPE,
        signing_time=issued,
    )
    armour = lambda der: pem.armor("CERTIFICATE", der).decode()  # noqa: E731
    (directory / STATUS_DIR).mkdir(parents=True)
    (directory / STATUS_DIR / f"{issuer}.bin").write_bytes(bytes(status))
    (directory / TRUST_FILE).write_text(
        json.dumps(
            {
                "format": CACHE_FORMAT,
                "region": "320000",
                "exported_at": _iso(issued),
                "next_update": _iso(IAT + dt.timedelta(days=1)),
                "anchors": [armour(root)],
                "intermediates": [],
                "code_signers": [armour(signer)],
                "status_list_signers": [armour(list_cert)],
                "peers": [],
            }
        ),
        encoding="utf-8",
    )
    return directory


def test_the_documented_example_verifies_before_exp_and_is_expired_after(tmp_path: Path):
    text = example_blocks()["code"]
    snapshot = load_snapshot_cache(_example_cache(tmp_path / "cache"), now=IAT)
    report = verify_code(snapshot, text, now=IAT + dt.timedelta(seconds=60))
    assert report.indication is Indication.PASSED, report.message
    assert report.object["licence"] == CLAIMS.sub
    assert report.object["expires_at"] == "2026-12-01T02:02:00Z"
    checks = {c.name: c.result for c in report.checks}
    assert checks["code.signature"] == checks["code_signer.path"] == checks["code.lifetime"] == "passed"
    report = verify_code(snapshot, text, now=IAT + dt.timedelta(seconds=121))
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "EXPIRED")
    assert "2026-12-01T02:02:00Z" in report.message
