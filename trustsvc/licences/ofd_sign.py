"""Sealing an OFD licence with the department's GB/T 38540 seal, as ofdrw's ``OFDSigner`` does.

The signature lives in ``/Doc_0/Signs`` (GB/T 33190 §18)::

    Signatures.xml          one Signature, ID s001, Type Seal, BaseLoc .../Sign_0/Signature.xml
    Sign_0/Seal.esl         the department's SESeal (DER), which readers draw at the StampAnnot
    Sign_0/Signature.xml    SignedInfo: Provider, SignatureMethod, SignatureDateTime, References
                            (CheckMethod SM3, one Reference per part: base64 SM3 of its bytes),
                            StampAnnot (the seal on the page), Seal/BaseLoc; SignedValue path
    Sign_0/SignedValue.dat  SES_Signature: dataHash = SM3(Signature.xml), propertyInfo = the
                            Signature.xml path, signed by the department's signer key, with the
                            region TSA's RFC 3161 token over the signature value

The references cover *every* other part, ``Signatures.xml`` and ``Seal.esl`` included: this is
ofdrw's complete-protection (lock) mode, since a licence file is final (no later signature, no
added page). Only ``Signature.xml`` (hashed into the SES dataHash) and ``SignedValue.dat`` (the
signature itself) are outside them. The SES signature is made by
:func:`trustsvc.formats.seals.make.sign_document`, the one seal application every seal use goes through.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable

import hsm
from ca.oids import SMOID

from ..formats.seals.make import sign_document
from .face_plan import Picture
from .ofd_write import DOC, SIGNATURES_PATH, OfdParts, ofd_element, xml_bytes, zip_package
from .ofd_write import ofd_subelement as _sub

__all__ = ["seal_ofd", "SIGN_DIR", "SIGNATURE_XML", "SIGNED_VALUE", "SEAL_FILE", "SIGNATURE_ID", "PROVIDER"]

SIGN_DIR = f"{DOC}/Signs/Sign_0"
SIGNATURE_XML = f"{SIGN_DIR}/Signature.xml"
SIGNED_VALUE = f"{SIGN_DIR}/SignedValue.dat"
SEAL_FILE = f"{SIGN_DIR}/Seal.esl"
SIGNATURE_ID = "s001"
PROVIDER = "trustsvc"


def _signatures_xml() -> bytes:
    root = ofd_element("Signatures")
    _sub(root, "MaxSignId", text=SIGNATURE_ID)
    _sub(root, "Signature", {"ID": SIGNATURE_ID, "Type": "Seal", "BaseLoc": f"/{SIGNATURE_XML}"})
    return xml_bytes(root)


def _n(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def _signature_xml(
    files: list[tuple[str, bytes]], *, page_id: int, seal_box: Picture, when: dt.datetime, method: str
) -> bytes:
    root = ofd_element("Signature")
    info = _sub(root, "SignedInfo")
    _sub(info, "Provider", {"ProviderName": PROVIDER, "Version": "1", "Company": "trustsvc"})
    _sub(info, "SignatureMethod", text=method)
    _sub(info, "SignatureDateTime", text=when.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ"))
    refs = _sub(info, "References", {"CheckMethod": SMOID.SM3})
    for path, data in files:
        ref = _sub(refs, "Reference", {"FileRef": f"/{path}"})
        _sub(ref, "CheckValue", text=base64.b64encode(hsm.sm3(data)).decode("ascii"))
    _sub(
        info,
        "StampAnnot",
        {
            "ID": "1",
            "PageRef": str(page_id),
            "Boundary": " ".join(
                _n(v) for v in (seal_box.x_mm, seal_box.top_mm, seal_box.width_mm, seal_box.height_mm)
            ),
        },
    )
    _sub(_sub(info, "Seal"), "BaseLoc", text=f"/{SEAL_FILE}")
    _sub(root, "SignedValue", text=f"/{SIGNED_VALUE}")
    return xml_bytes(root)


def seal_ofd(
    parts: OfdParts,
    seal_box: Picture,
    *,
    seal: bytes,
    signer: hsm.Signer,
    signer_cert: bytes,
    signing_time: dt.datetime,
    timestamper: Callable[[bytes], bytes] | None,
) -> bytes:
    """The sealed OFD package (zip) of ``parts``, the seal drawn at ``seal_box`` on the page.

    :param seal: the department's SESeal (DER); ``signer_cert`` must be in its certList.
    :param timestamper: signature value -> RFC 3161 token (:func:`trustsvc.sealing.region_timestamper`).
    :raises SealingError: from :func:`~trustsvc.formats.seals.make.sign_document` (signer not in the seal,
        outside the seal's or the certificate's validity, a key that does not match).
    """
    when = signing_time.astimezone(dt.UTC).replace(microsecond=0)
    protected = [*parts.files, (SIGNATURES_PATH, _signatures_xml()), (SEAL_FILE, bytes(seal))]
    signature_xml = _signature_xml(
        protected, page_id=parts.page_id, seal_box=seal_box, when=when, method=signer.signature_algorithm_oid
    )
    signed_value = sign_document(
        signature_xml,
        seal=seal,
        signer=signer,
        signer_cert=signer_cert,
        property_info=f"/{SIGNATURE_XML}",
        time=when,
        timestamper=timestamper,
    )
    return zip_package([*protected, (SIGNATURE_XML, signature_xml), (SIGNED_VALUE, signed_value)], when)
