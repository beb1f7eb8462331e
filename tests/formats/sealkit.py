"""Helpers for the seal tests: our own SM2 hierarchy, seal specs, a minimal OFD builder and
the interop directory (whose files are read in place, never copied into the repo).

Hierarchy (issued with ``ca.issue.issue_certificate``, keys in a ``hsm.SoftKeyStore``)::

    root (root_ca) ── issuing CA (issuing_ca) ─┬─ seal maker (seal_maker)
                                               ├─ signer (signer)
                                               ├─ other signer (signer, not in any seal)
                                               └─ expired signer (signer, validity in 2021)
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import core

import hsm
from ca.certs import ParsedCertificate, load_certificates, parse_certificate
from ca.issue import issue_certificate
from ca.names import SubjectSpec
from ca.results import Check
from ca.revocation import RevocationStatus
from trustsvc.formats.seals import SealPicture, SealSpec, sign_document
from trustsvc.formats.seals.asn1 import (
    OID_SM3_WITH_SM2,
    CertInfoList,
    SESHeader,
    SESPictureInfo,
    SESSealInfoV4,
    der_sequence,
)
from trustsvc.formats.trust import TrustContext

REPO = Path(__file__).resolve().parents[2]
REGION = {"region": "320000", "source": "local"}
CA_START = datetime(2020, 1, 1, tzinfo=UTC)
"""Root and issuing CA are valid from here, so historical signing times can be tested."""
# A tiny valid PNG keeps the made seals small, so byte-by-byte mutation stays fast.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e3a1b2f50000000049454e44ae426082"
)


def interop_root() -> Path:
    env = os.environ.get("TRUSTSVC_INTEROP_DIR")
    return Path(env) if env else REPO.parent / "shared" / "interop"


def read_cert(interop: Path, name: str) -> bytes:
    return load_certificates((interop / "certs" / name).read_bytes())[0].der


@dataclass(frozen=True)
class Party:
    signer: hsm.Signer
    cert: bytes


@dataclass(frozen=True)
class Hierarchy:
    root: Party
    ca: Party
    maker: Party
    signer: Party
    other_signer: Party
    expired_signer: Party

    @property
    def trust(self) -> TrustContext:
        root = parse_certificate(self.root.cert)
        return TrustContext(anchors=(self.root.cert,), intermediates=(self.ca.cert,), anchor_info={root.sha256: REGION})

    @property
    def untrusted(self) -> TrustContext:
        """The issuing CA for path building, but no anchor."""
        return TrustContext(intermediates=(self.ca.cert,))


def make_hierarchy(directory: Path) -> Hierarchy:
    store = hsm.SoftKeyStore(directory, "seal-test-pin", create=True)

    def key(label: str) -> hsm.Signer:
        return store.signer(store.create_key(label))

    root_key = key("root")
    root = issue_certificate(
        profile="root_ca",
        subject=SubjectSpec("测试区域根CA", organization="江苏省测试"),
        public_key=root_key.public_key,
        issuer_signer=root_key,
        issuer_cert=None,
        not_before=CA_START,
    )
    ca_key = key("ca")
    ca = issue_certificate(
        profile="issuing_ca",
        subject=SubjectSpec("测试签发CA", organization="江苏省测试"),
        public_key=ca_key.public_key,
        issuer_signer=root_key,
        issuer_cert=root,
        not_before=CA_START,
    )

    def leaf(label: str, profile: str, cn: str, **times: datetime) -> Party:
        k = key(label)
        cert = issue_certificate(
            profile=profile,
            subject=SubjectSpec(cn, organization="江苏省市场监督管理局", organization_identifier="11320000MB0000001G"),
            public_key=k.public_key,
            issuer_signer=ca_key,
            issuer_cert=ca,
            **times,
        )
        return Party(k, cert)

    return Hierarchy(
        root=Party(root_key, root),
        ca=Party(ca_key, ca),
        maker=leaf("maker", "seal_maker", "江苏省电子印章制作系统"),
        signer=leaf("signer", "signer", "江苏省市场监督管理局签章"),
        other_signer=leaf("other", "signer", "未授权签章人"),
        expired_signer=leaf(
            "expired",
            "signer",
            "过期签章人",
            not_before=datetime(2021, 1, 1, tzinfo=UTC),
            not_after=datetime(2021, 12, 31, tzinfo=UTC),
        ),
    )


def seal_spec(pki: Hierarchy, **overrides: object) -> SealSpec:
    now = datetime.now(UTC)
    fields: dict[str, object] = {
        "es_id": "32000020240001",
        "name": "江苏省市场监督管理局",
        "seal_type": 1,
        "vid": "trustsvc",
        "signer_certs": (pki.signer.cert,),
        "picture": SealPicture("PNG", TINY_PNG, 42, 42),
        "valid_start": now - timedelta(minutes=1),
        "valid_end": now + timedelta(days=365),
    }
    fields.update(overrides)
    return SealSpec(**fields)  # type: ignore[arg-type]


DOCUMENT = "营业执照 统一社会信用代码 91320000MA1XXXXX0X".encode()


# -- a minimal signed OFD ---------------------------------------------------------------------
OFD_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.0" DocType="OFD"><ofd:DocBody>'
    b"<ofd:DocInfo><ofd:DocID>test</ofd:DocID></ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>"
    b"<ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures></ofd:DocBody></ofd:OFD>"
)
DOCUMENT_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Document xmlns:ofd="http://www.ofdspec.org/2016">'
    b"<ofd:CommonData><ofd:MaxUnitID>1</ofd:MaxUnitID></ofd:CommonData></ofd:Document>"
)
CONTENT_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Page xmlns:ofd="http://www.ofdspec.org/2016">'
    b'<ofd:Content><ofd:Layer ID="1"/></ofd:Content></ofd:Page>'
)


def build_ofd(
    pki: Hierarchy,
    seal: bytes,
    *,
    protect_signatures_xml: bool = False,
    extra_files: dict[str, bytes] | None = None,
    check_method: str | None = "1.2.156.10197.1.401",
    digest: Callable[[bytes], bytes] = hsm.sm3,
    empty_signed_value: bool = False,
) -> bytes:
    """An OFD package with one Type=Seal signature made with our seal (ofdrw's layout)."""
    import base64

    files = {
        "OFD.xml": OFD_XML,
        "Doc_0/Document.xml": DOCUMENT_XML,
        "Doc_0/Pages/Page_0/Content.xml": CONTENT_XML,
        "Doc_0/Signs/Sign_0/Seal.esl": seal,
    }
    signatures_xml = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Signatures xmlns:ofd="http://www.ofdspec.org/2016">'
        b'<ofd:MaxSignId>1</ofd:MaxSignId><ofd:Signature ID="1" Type="Seal" BaseLoc="Sign_0/Signature.xml"/>'
        b"</ofd:Signatures>"
    )
    files["Doc_0/Signs/Signatures.xml"] = signatures_xml
    protected = ["OFD.xml", "Doc_0/Document.xml", "Doc_0/Pages/Page_0/Content.xml", "Doc_0/Signs/Sign_0/Seal.esl"]
    if protect_signatures_xml:
        protected.append("Doc_0/Signs/Signatures.xml")
    refs = "".join(
        f'<ofd:Reference FileRef="/{name}"><ofd:CheckValue>{base64.b64encode(digest(files[name])).decode()}'
        "</ofd:CheckValue></ofd:Reference>"
        for name in protected
    )
    signature_xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Signature xmlns:ofd="http://www.ofdspec.org/2016">'
        '<ofd:SignedInfo><ofd:Provider ProviderName="trustsvc-test" Version="1.0" Company="trustsvc"/>'
        "<ofd:SignatureMethod>1.2.156.10197.1.501</ofd:SignatureMethod>"
        + (f'<ofd:References CheckMethod="{check_method}">' if check_method is not None else "<ofd:References>")
        + f"{refs}</ofd:References>"
        '<ofd:StampAnnot ID="2" PageRef="1" Boundary="100 100 42 42"/>'
        "<ofd:Seal><ofd:BaseLoc>Seal.esl</ofd:BaseLoc></ofd:Seal></ofd:SignedInfo>"
        + ("<ofd:SignedValue/>" if empty_signed_value else "")
        + "<ofd:SignedValue>SignedValue.dat</ofd:SignedValue></ofd:Signature>"
    ).encode()
    files["Doc_0/Signs/Sign_0/Signature.xml"] = signature_xml
    files["Doc_0/Signs/Sign_0/SignedValue.dat"] = sign_document(
        signature_xml,
        seal=seal,
        signer=pki.signer.signer,
        signer_cert=pki.signer.cert,
        property_info="/Doc_0/Signs/Sign_0/Signature.xml",
    )
    files.update(extra_files or {})
    return zip_files(files)


def zip_files(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist() if not i.filename.endswith("/")}


# -- hand-built structures (other vendors' shapes and deliberate faults) -----------------------
def raw(*values: core.Asn1Value | bytes) -> bytes:
    """DER SEQUENCE of the given elements, each kept exactly as encoded."""
    return der_sequence(v if isinstance(v, bytes) else v.dump() for v in values)


def bit_string(octets: bytes, unused: int = 0) -> core.Asn1Value:
    """A BIT STRING with an arbitrary unused-bits octet (asn1crypto builds only clean ones)."""
    return core.Any.load(core.OctetString(bytes([unused]) + octets, tag=3).dump())


def hand_signature(
    seal: bytes,
    party: Party,
    *,
    document: bytes = DOCUMENT,
    time: datetime | None = None,
    time_node: core.Asn1Value | None = None,
    data_hash_node: core.Asn1Value | None = None,
    ext_datas_node: core.Asn1Value | bytes | None = None,
    encode_signature: Callable[[bytes], core.Asn1Value] | None = None,
    cert: bytes | None = None,
    algorithm: str = OID_SM3_WITH_SM2,
    version: int = 4,
    time_stamp: core.Asn1Value | None = None,
) -> bytes:
    """A GB/T 38540-shaped SES_Signature built field by field and signed by ``party``."""
    when = time or datetime.now(UTC).replace(microsecond=0)
    parts: list[core.Asn1Value | bytes] = [
        core.Integer(version),
        seal,
        time_node if time_node is not None else core.GeneralizedTime(when),
        data_hash_node if data_hash_node is not None else core.OctetBitString(hsm.sm3(document)),
        core.IA5String("/Doc_0/Signs/Sign_0/Signature.xml"),
    ]
    if ext_datas_node is not None:
        parts.append(ext_datas_node)
    tbs = raw(*parts)
    signature = party.signer.sign(tbs)
    value = encode_signature(signature) if encode_signature else core.OctetBitString(signature)
    outer: list[core.Asn1Value | bytes] = [
        tbs,
        core.OctetString(cert or party.cert),
        core.ObjectIdentifier(algorithm),
        value,
    ]
    if time_stamp is not None:
        outer.append(time_stamp)
    return raw(*outer)


def v1_seal(pki: Hierarchy, *, generalized_dates: bool = False, signers: tuple[bytes, ...] | None = None) -> bytes:
    """A GM/T 0031-2014 seal: the maker signs SEQUENCE {sealInfo, cert, alg}."""
    now = datetime.now(UTC).replace(microsecond=0)
    time_type = core.GeneralizedTime if generalized_dates else core.UTCTime
    prop = raw(
        core.Integer(1),
        core.UTF8String("江苏省市场监督管理局"),
        CertInfoList(list(signers or (pki.signer.cert,))),
        time_type(now - timedelta(minutes=1)),
        time_type(now - timedelta(minutes=1)),
        time_type(now + timedelta(days=365)),
    )
    seal_info = raw(
        SESHeader({"id": "ES", "version": 1, "vid": "trustsvc"}),
        core.IA5String("32000020140001"),
        prop,
        SESPictureInfo({"type": "PNG", "data": TINY_PNG, "width": 42, "height": 42}),
    )
    cert, alg = core.OctetString(pki.maker.cert), core.ObjectIdentifier(OID_SM3_WITH_SM2)
    signed = pki.maker.signer.sign(raw(seal_info, cert, alg))
    return raw(seal_info, raw(cert, alg, core.OctetBitString(signed)))


def v1_signature(pki: Hierarchy, seal: bytes, *, time_text: str, document: bytes = DOCUMENT) -> bytes:
    """A GM/T 0031-2014 SES_Signature: the signer certificate is inside TBS_Sign."""
    tbs = raw(
        core.Integer(1),
        seal,
        core.OctetBitString(time_text.encode("ascii")),
        core.OctetBitString(hsm.sm3(document)),
        core.IA5String("/Doc_0/Signs/Sign_0/Signature.xml"),
        core.OctetString(pki.signer.cert),
        core.ObjectIdentifier(OID_SM3_WITH_SM2),
    )
    return raw(tbs, core.OctetBitString(pki.signer.signer.sign(tbs)))


def v5_seal(pki: Hierarchy, token: bytes | None, *, tagging: str = "explicit", create: datetime | None = None) -> bytes:
    """A GM/T 0031-2025 seal with a time-stamp [0] in the given tagging."""
    now = datetime.now(UTC).replace(microsecond=0)
    seal_info = SESSealInfoV4(
        {
            "header": {"id": "ES", "version": 5, "vid": "trustsvc"},
            "es_id": "32000020250001",
            "property": {
                "type": 1,
                "name": "江苏省市场监督管理局",
                "cert_list_type": 1,
                "cert_list": {"certs": [pki.signer.cert]},
                "create_date": create or now,
                "valid_start": now - timedelta(minutes=1),
                "valid_end": now + timedelta(days=365),
            },
            "picture": {"type": "PNG", "data": TINY_PNG, "width": 42, "height": 42},
        }
    )
    signed = pki.maker.signer.sign(seal_info.dump())
    parts: list[core.Asn1Value | bytes] = [
        seal_info,
        core.OctetString(pki.maker.cert),
        core.ObjectIdentifier(OID_SM3_WITH_SM2),
        core.OctetBitString(signed),
    ]
    if token is not None:
        if tagging == "explicit":
            parts.append(core.OctetBitString(token, explicit=0))
        elif tagging == "implicit":
            parts.append(core.OctetBitString(token, implicit=0))
        else:
            parts.append(core.OctetBitString(token))
    return raw(*parts)


class FakeTSA:
    """Stands in for an RFC 3161 TSA and its verifier: tokens are opaque DER it remembers."""

    def __init__(self, gen_time: datetime) -> None:
        self.gen_time = gen_time
        self.issued: dict[bytes, bytes] = {}

    def stamp(self, value: bytes) -> bytes:
        token = raw(core.ObjectIdentifier("1.2.840.113549.1.9.16.1.4"), core.OctetString(hsm.sm3(value)))
        self.issued[token] = hsm.sm3(value)
        return token

    def verify(self, token: bytes, value: bytes) -> tuple[datetime | None, list[Check]]:
        if self.issued.get(token) != hsm.sm3(value):
            return None, [Check("message_imprint", "failed", "imprint does not cover the value")]
        return self.gen_time, [Check("message_imprint", "passed", "imprint covers the value")]


class FixedRevocation:
    """A revocation source that knows one revoked serial (revoked for ``reason``, a key compromise unless told)."""

    def __init__(self, serial: int, revoked_at: datetime, reason: str = "key_compromise") -> None:
        self.serial, self.revoked_at, self.reason = serial, revoked_at, reason

    def check(self, cert: ParsedCertificate, issuer: ParsedCertificate, at: datetime) -> RevocationStatus:
        if cert.serial == self.serial:
            return RevocationStatus("revoked", revoked_at=self.revoked_at, reason=self.reason, source="test CRL")
        return RevocationStatus("good", source="test CRL")
