"""How the worked example in docs/service-code.md was made (its provenance), and the reader the
example test uses to take it back out of the document.

The example's keys come from fixed scalars (published: they sign nothing but the example),
so anyone can rebuild the certificates' public keys; SM2 signatures are randomised, so the
certificates and the code are committed as made once by ``python tests/codes/code_example.py``
(which prints the document's example section). The test decodes the committed text byte for
byte and verifies it; it never regenerates it.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import zlib
from pathlib import Path

import base45
from asn1crypto import pem

from ca import SubjectSpec, issue_certificate
from hsm import KeyAlgorithm, get_provider, sm3
from hsm.encoding import SM2_N, sm2_pkcs8_from_scalar
from hsm.soft import SoftSigner
from trustsvc.codes.format import CodeClaims, decode_code, kid_for, sign_code

DOC = Path(__file__).resolve().parents[2] / "docs" / "service-code.md"
ROOT_SCALAR = int.from_bytes(sm3(b"trustsvc service-code example root"), "big") % (SM2_N - 2) + 1
SIGNER_SCALAR = int.from_bytes(sm3(b"trustsvc service-code example code signer"), "big") % (SM2_N - 2) + 1
IAT = dt.datetime(2026, 12, 1, 2, 0, 0, tzinfo=dt.UTC)
CLAIMS = CodeClaims(
    iss="320000",
    sub="1.2.156.3005.2.11100000MB0143028R001.11320000MB0000001G.20260000001.001.9",
    typ="dynamic",
    iat=int(IAT.timestamp()),
    exp=int(IAT.timestamp()) + 120,
    status_index=0,
    display={"n": "营业执照", "h": "江苏某某科技有限公司", "hid": "91320100********0C", "o": "江苏省市场监督管理局"},
    nonce=bytes.fromhex("00112233445566778899aabbccddeeff"),
)


def scalar_signer(d: int, label: str) -> SoftSigner:
    handle = get_provider().load_private(sm2_pkcs8_from_scalar(d))
    return SoftSigner(f"soft:{label}", KeyAlgorithm.SM2, handle.spki(), handle)


def make_example() -> dict[str, str]:
    root_signer = scalar_signer(ROOT_SCALAR, "example-root")
    code_signer = scalar_signer(SIGNER_SCALAR, "example-code-signer")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    root = issue_certificate(
        profile="root_ca",
        subject=SubjectSpec("示例电子政务根CA", organization="江苏省"),
        public_key=root_signer.public_key,
        issuer_signer=root_signer,
        issuer_cert=None,
        serial=1,
        not_before=start,
        not_after=start.replace(year=2046),
    )
    leaf = issue_certificate(
        profile="code_signer",
        subject=SubjectSpec("示例服务码签名", organization="江苏省"),
        public_key=code_signer.public_key,
        issuer_signer=root_signer,
        issuer_cert=root,
        serial=2,
        not_before=start,
        not_after=start.replace(year=2028),
    )
    text = sign_code(CLAIMS, signer=code_signer, cert_der=leaf)
    return {
        "root": pem.armor("CERTIFICATE", root).decode(),
        "signer": pem.armor("CERTIFICATE", leaf).decode(),
        "code": text,
    }


def example_blocks(doc: str | None = None) -> dict[str, str]:
    """Every ```` ``` ```` block preceded by an ``<!-- example:NAME -->`` marker, by NAME."""
    doc = DOC.read_text(encoding="utf-8") if doc is None else doc
    return {
        m.group(1): m.group(2).strip()
        for m in re.finditer(r"<!-- example:([a-z_]+) -->\s*```[a-z]*\n(.*?)```", doc, re.S)
    }


def hex_lines(data: bytes, width: int = 64) -> str:
    h = data.hex()
    return "\n".join(h[i : i + width] for i in range(0, len(h), width))


def section(ex: dict[str, str]) -> str:
    """The example section's blocks, ready to paste into the document."""
    code = decode_code(ex["code"])
    leaf = pem.unarmor(ex["signer"].encode())[2]
    parts = [
        ("code", "text", ex["code"]),
        ("zlib", "text", hex_lines(base45.b45decode(ex["code"][4:]))),
        ("cose", "text", hex_lines(code.cose)),
        ("protected", "text", code.protected.hex()),
        ("kid", "text", kid_for(leaf).hex()),
        ("payload", "text", hex_lines(code.payload)),
        ("sig_structure", "text", hex_lines(code.to_be_signed)),
        ("signature", "text", hex_lines(code.signature)),
        ("root_cert", "text", ex["root"].strip()),
        ("signer_cert", "text", ex["signer"].strip()),
    ]
    assert zlib.decompress(base45.b45decode(ex["code"][4:])) == code.cose
    return "\n\n".join(f"<!-- example:{name} -->\n```{lang}\n{body}\n```" for name, lang, body in parts)


if __name__ == "__main__":
    sys.stdout.write(section(make_example()) + "\n")
