"""How the worked example in docs/holder-code.md was made (its provenance), and the reader the
example test uses to take it back out of the document.

Keys come from fixed scalars and salts from fixed labels (published: they protect nothing but
the example). SM2 signatures are randomised, so the certificates, the MSO and the presentation
are committed as made once by ``python tests/holder/holder_example.py`` (which prints the
document's example blocks); the test decodes the committed text byte for byte and verifies it,
it never regenerates it.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import zlib
from pathlib import Path

import base45
import cbor2
from asn1crypto import pem

from ca import SubjectSpec, issue_certificate
from hsm import KeyAlgorithm, get_provider, sm3
from hsm.encoding import SM2_N, sm2_pkcs8_from_scalar
from hsm.soft import SoftSigner
from trustsvc.codes.format import kid_for
from trustsvc.holder.cose import sign1
from trustsvc.holder.format import Disclosure, decode_envelope, encode_presentation, sign_envelope
from trustsvc.holder.mso import MsoClaims, encode_mso, field_digest

DOC = Path(__file__).resolve().parents[2] / "docs" / "holder-code.md"
LABEL = "trustsvc holder-code example"
ROOT_SCALAR = int.from_bytes(sm3(f"{LABEL} root".encode()), "big") % (SM2_N - 2) + 1
DEPARTMENT_SCALAR = int.from_bytes(sm3(f"{LABEL} department signer".encode()), "big") % (SM2_N - 2) + 1
CODE_SIGNER_SCALAR = int.from_bytes(sm3(f"{LABEL} code signer".encode()), "big") % (SM2_N - 2) + 1
IDENTIFIER = "1.2.156.3005.2.11100000MB0143028R001.11320000MB0000001G.20260000001.001.9"
ISSUER = "11320000MB0000001G"
MSO_IAT = dt.datetime(2026, 12, 1, 1, 0, 0, tzinfo=dt.UTC)
IAT = dt.datetime(2026, 12, 1, 2, 0, 0, tzinfo=dt.UTC)
TTL = 120
NONCE = bytes.fromhex("00112233445566778899aabbccddeeff")
PURPOSE = "开立对公账户"
FIELDS = {
    "holder_name": "江苏某某科技有限公司",
    "holder_id": "91320100MA1ABCDE0C",
    "name": "江苏某某科技有限公司",
    "uscc": "91320100MA1ABCDE0C",
    "entity_type": "有限责任公司",
    "legal_representative": "张三",
}
DISCLOSED = ("name", "uscc")


def salt(name: str) -> bytes:
    return sm3(f"{LABEL} salt {name}".encode())[:16]


MSO_CLAIMS = MsoClaims(
    identifier=IDENTIFIER,
    version=1,
    type_code="11100000MB0143028R001",
    issuer=ISSUER,
    valid_from="2020-05-01",
    valid_until=None,
    status_index=0,
    signed_at=int(MSO_IAT.timestamp()),
    digests={n: field_digest(salt(n), n, v) for n, v in FIELDS.items()},
)


def scalar_signer(d: int, label: str) -> SoftSigner:
    handle = get_provider().load_private(sm2_pkcs8_from_scalar(d))
    return SoftSigner(f"soft:{label}", KeyAlgorithm.SM2, handle.spki(), handle)


def make_example() -> dict[str, str]:
    root_key = scalar_signer(ROOT_SCALAR, "example-root")
    dept_key = scalar_signer(DEPARTMENT_SCALAR, "example-department-signer")
    code_key = scalar_signer(CODE_SIGNER_SCALAR, "example-code-signer")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    root = issue_certificate(
        profile="root_ca",
        subject=SubjectSpec("示例电子政务根CA", organization="江苏省"),
        public_key=root_key.public_key,
        issuer_signer=root_key,
        issuer_cert=None,
        serial=1,
        not_before=start,
        not_after=start.replace(year=2046),
    )
    dept = issue_certificate(
        profile="signer",
        subject=SubjectSpec(
            "示例签章者", organization="江苏省市场监督管理局", organization_identifier=f"NTRCN-{ISSUER}"
        ),
        public_key=dept_key.public_key,
        issuer_signer=root_key,
        issuer_cert=root,
        serial=2,
        not_before=start,
        not_after=start.replace(year=2029),
    )
    code = issue_certificate(
        profile="code_signer",
        subject=SubjectSpec("示例服务码签名", organization="江苏省"),
        public_key=code_key.public_key,
        issuer_signer=root_key,
        issuer_cert=root,
        serial=3,
        not_before=start,
        not_after=start.replace(year=2028),
    )
    mso = cbor2.dumps(sign1(encode_mso(MSO_CLAIMS), signer=dept_key, cert_der=dept).item(), canonical=True)
    payload = encode_presentation(
        iss="320000",
        iat=int(IAT.timestamp()),
        exp=int(IAT.timestamp()) + TTL,
        nonce=NONCE,
        purpose=PURPOSE,
        verifier=None,
        licences=[(mso, [Disclosure(n, salt(n), FIELDS[n]) for n in DISCLOSED])],
    )
    text = sign_envelope(payload, signer=code_key, cert_der=code)
    return {
        "root": pem.armor("CERTIFICATE", root).decode(),
        "department": pem.armor("CERTIFICATE", dept).decode(),
        "code_signer": pem.armor("CERTIFICATE", code).decode(),
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


def blocks(ex: dict[str, str]) -> dict[str, str]:
    """The example's blocks by name, ready to paste into the document."""
    env = decode_envelope(ex["code"])
    mso = env.claims.licences[0].mso  # type: ignore[union-attr]
    code_cert = pem.unarmor(ex["code_signer"].encode())[2]
    dept_cert = pem.unarmor(ex["department"].encode())[2]
    assert zlib.decompress(base45.b45decode(ex["code"][4:])) == env.cose
    out = {
        "code": ex["code"],
        "zlib": hex_lines(base45.b45decode(ex["code"][4:])),
        "cose": hex_lines(env.cose),
        "protected": env.sign1.protected.hex(),
        "kid": kid_for(code_cert).hex(),
        "payload": hex_lines(env.sign1.payload),
        "sig_structure": hex_lines(env.sign1.to_be_signed),
        "signature": hex_lines(env.sign1.signature),
        "mso": hex_lines(cbor2.dumps(mso.sign1.item(), canonical=True)),
        "mso_protected": mso.sign1.protected.hex(),
        "mso_kid": kid_for(dept_cert).hex(),
        "mso_payload": hex_lines(mso.sign1.payload),
        "mso_signature": hex_lines(mso.sign1.signature),
    }
    for name in DISCLOSED:
        item = cbor2.dumps([name, FIELDS[name]], canonical=True)
        out[f"disclosure_{name}"] = (
            f"salt   {salt(name).hex()}\ncbor   {item.hex()}\n"
            f"digest {field_digest(salt(name), name, FIELDS[name]).hex()}"
        )
    out.update(
        {
            "root_cert": ex["root"].strip(),
            "department_cert": ex["department"].strip(),
            "code_signer_cert": ex["code_signer"].strip(),
        }
    )
    return out


if __name__ == "__main__":
    made = blocks(make_example())
    sys.stdout.write("\n\n".join(f"<!-- example:{k} -->\n```text\n{v}\n```" for k, v in made.items()) + "\n")
