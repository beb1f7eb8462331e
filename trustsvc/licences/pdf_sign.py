"""Sealing a rendered licence PDF: embedded metadata, the identifier in the document
information and XMP, and an SM2 ``adbe.pkcs7.detached`` signature (ISO 32000-1 §12.8).

Why pyHanko's *interrupted* signing flow and not a pyHanko ``Signer`` subclass: pyHanko knows
PDF (the signature field, the ``/ByteRange`` placeholder, the incremental update) but not SM2,
while :func:`ca.cms.sign_cms` already builds the SignedData trustsvc verifies everywhere (SM3
digest, SM2-with-SM3 ``1.2.156.10197.1.501``, signingTime, signingCertificateV2, the key used by
reference through an :class:`hsm.Signer`). So pyHanko prepares the document and reserves the
``/Contents`` hole; we sign exactly the bytes the ``/ByteRange`` covers with ``sign_cms``, add
the region TSA's RFC 3161 token over the signature value as the signer's unsigned
``signatureTimeStampToken`` (:mod:`ca.cms_timestamp`), and hand the CMS back to pyHanko to fill
the hole. pyHanko's own ``ExternalSigner`` only stands in for the certificate it needs while
preparing the field; it never signs.

The signature is the last thing written, so it covers the whole file: any later change, even
an appended byte, leaves bytes outside the ``/ByteRange`` (pyHanko then reports less than
``ENTIRE_FILE`` and :mod:`trustsvc.licences.pdf_verify` fails it).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import hsm
from ca.cms import sign_cms, signed_message_digest
from ca.cms_timestamp import add_signature_timestamp, signer_timestamp_parts

from ..errors import ConflictError

__all__ = ["PdfAttachment", "PdfSealSpec", "seal_pdf", "SIGNATURE_FIELD", "XMP_NAMESPACE", "RESERVED_HEX_CHARS"]

SIGNATURE_FIELD = "LicenceSeal"
XMP_NAMESPACE = "http://purl.org/dc/elements/1.1/"
"""The licence identifier is written as XMP ``dc:identifier`` (Dublin Core)."""
RESERVED_HEX_CHARS = 32_768
"""Room for the CMS in ``/Contents`` (hex digits, so 16 KiB of DER): the signer certificate,
its CA chain and a time-stamp token with its own chain take about 5 KiB."""


@dataclass(frozen=True)
class PdfAttachment:
    """A file embedded in the PDF (document-level ``/EmbeddedFiles``)."""

    name: str
    data: bytes
    media_type: str
    description: str
    compress: bool = True
    """False stores the bytes as they are (``/FlateDecode`` on already-compressed data, such as
    a seal's PNG picture, costs milliseconds and saves next to nothing)."""


@dataclass(frozen=True)
class PdfSealSpec:
    """What the sealed PDF says about itself besides its page."""

    identifier: str
    """The GB/T 36904 licence identifier (XMP ``dc:identifier`` and the Info keywords)."""
    signer_name: str
    """``/Name`` of the signature: the issuing department."""
    reason: str
    location: str
    signing_time: dt.datetime
    """Aware; written as the signature's ``/M`` and as the CMS signingTime (whole seconds)."""
    attachments: tuple[PdfAttachment, ...] = ()


def _add_attachments(writer: object, spec: PdfSealSpec) -> None:
    from pyhanko.pdf_utils import embed

    for item in spec.attachments:
        stream = embed.EmbeddedFileObject.from_file_data(
            writer,  # type: ignore[arg-type]
            data=item.data,
            compress=item.compress,
            mime_type=item.media_type,
            params=embed.EmbeddedFileParams(creation_date=spec.signing_time, modification_date=spec.signing_time),
        )
        embed.embed_file(
            writer,  # type: ignore[arg-type]
            embed.FileSpec(
                file_spec_string=item.name,
                file_name=item.name,
                embedded_data=stream,
                description=item.description,
            ),
        )


def _set_xmp_identifier(writer: object, identifier: str) -> None:
    from pyhanko.pdf_utils.metadata.model import ExpandedName, XmpStructure, XmpValue

    meta = writer.document_meta  # type: ignore[attr-defined]
    meta.xmp_extra = [XmpStructure.of((ExpandedName(XMP_NAMESPACE, "identifier"), XmpValue(identifier)))]


@functools.lru_cache(maxsize=64)
def _stand_in_certificates(signer_cert: bytes, chain: tuple[bytes, ...]) -> tuple[Any, Any]:
    """The signer certificate and a store of its chain as pyHanko's stand-in signer takes them,
    parsed once per department's certificates (0.8 ms a PDF otherwise); pyHanko only reads them."""
    from asn1crypto import x509
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    store = SimpleCertificateStore.from_certs([x509.Certificate.load(c) for c in chain])
    return x509.Certificate.load(signer_cert), store


def _signed_range_digest(cms_der: bytes, signed_bytes: bytes) -> bytes:
    """SM3 of what was signed, as pyHanko digests the ``/ByteRange``: the CMS's own messageDigest
    when it is SM3 (``sign_cms`` checked it against ``signed_bytes``), saving a third pass over the
    file; else (an ECDSA P-256 key signs with SHA-256) hashed here."""
    found = signed_message_digest(cms_der)
    return found[1] if found is not None and found[0] == "sm3" else hsm.sm3(signed_bytes)


def seal_pdf(
    pdf: bytes,
    spec: PdfSealSpec,
    *,
    signer: hsm.Signer,
    signer_cert: bytes,
    chain: Sequence[bytes],
    timestamper: Callable[[bytes], bytes] | None,
) -> bytes:
    """``pdf`` with ``spec``'s attachments and identifier, signed by ``signer`` as one
    incremental update that ends the file.

    :param chain: the issuing CA certificates (DER) to carry in the SignedData.
    :param timestamper: signature value -> RFC 3161 token (:func:`trustsvc.sealing.region_timestamper`);
        None leaves the signature without a time-stamp.
    :raises ConflictError: code ``signature_too_large`` when the CMS outgrows the reserved room.
    :raises CAError: from ``sign_cms`` (e.g. the signer does not hold the certificate's key).
    """
    from asn1crypto import algos
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    when = spec.signing_time.astimezone(dt.UTC).replace(microsecond=0)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    _add_attachments(writer, spec)
    _set_xmp_identifier(writer, spec.identifier)
    stand_in_cert, stand_in_chain = _stand_in_certificates(bytes(signer_cert), tuple(bytes(c) for c in chain))
    stand_in = signers.ExternalSigner(
        signing_cert=stand_in_cert,
        cert_registry=stand_in_chain,
        signature_value=bytes(72),
        signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sm2_sm3"}),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm="sm3",
        subfilter=fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED,
        name=spec.signer_name,
        reason=spec.reason,
        location=spec.location,
    )
    pdf_signer = signers.PdfSigner(meta, signer=stand_in, new_field_spec=fields.SigFieldSpec(SIGNATURE_FIELD))
    session = pdf_signer.init_signing_session(writer)
    session.system_time = when  # /M says the same second as the CMS signingTime
    tbs = session.prepare_tbs_document(validation_info=None, bytes_reserved=RESERVED_HEX_CHARS)
    output = io.BytesIO()
    prepared, _ = tbs.digest_tbs_document(output=output)
    data = output.getvalue()
    signed_bytes = data[: prepared.reserved_region_start] + data[prepared.reserved_region_end :]
    cms_der = sign_cms(
        signed_bytes, signer=signer, signer_cert=signer_cert, extra_certs=chain, detached=True, signing_time=when
    )
    if _signed_range_digest(cms_der, signed_bytes) != prepared.document_digest:  # pragma: no cover - range mismatch
        raise AssertionError("the /ByteRange content differs from what pyHanko digested")
    if timestamper is not None:
        cms_der = add_signature_timestamp(cms_der, timestamper(signer_timestamp_parts(cms_der).signature))
    if 2 * len(cms_der) > RESERVED_HEX_CHARS:
        raise ConflictError(
            f"the signature ({len(cms_der)} bytes) does not fit the {RESERVED_HEX_CHARS // 2} bytes reserved for it",
            code="signature_too_large",
        )
    prepared.fill_with_cms(output, cms_der)
    return output.getvalue()
