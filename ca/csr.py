"""PKCS#10 certification requests: build one with an :class:`hsm.Signer`, read and check one.

A CSR only proves possession of the key; what a certificate says comes from the profile and
the caller (see :mod:`ca.issue`), never from requested extensions. Those are still read, all of
them, because real requests repeat the extensionRequest attribute (Alibaba Cloud KMS does).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from asn1crypto import algos, csr, keys, x509

import hsm

from . import oids  # noqa: F401  (registration before any asn1crypto use)
from ._encoding import single_der
from ._signature import verify_signed
from .errors import CSRError
from .names import SubjectSpec, build_name, format_name

__all__ = ["ParsedCSR", "build_csr", "parse_csr", "verify_csr"]

_PEM_TYPES = frozenset({"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"})


@dataclass(frozen=True, eq=False)
class ParsedCSR:
    """A certification request, parsed (and, from :func:`verify_csr`, signature-checked)."""

    der: bytes
    info_der: bytes
    """DER of CertificationRequestInfo: the signed bytes."""
    signature: bytes
    signature_algorithm_oid: str
    signature_algorithm_der: bytes
    signature_parameters_der: bytes
    subject: x509.Name = field(repr=False)
    subject_str: str
    spki: bytes
    """The requested SubjectPublicKeyInfo DER: pass it to :func:`ca.issue.issue_certificate`."""
    requested_extensions: tuple[str, ...]
    """Extension names (or dotted OIDs) over every extensionRequest attribute, in order."""
    sha256: str
    asn1: csr.CertificationRequest = field(repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParsedCSR) and other.der == self.der

    def __hash__(self) -> int:
        return hash(self.der)


def build_csr(subject: SubjectSpec, signer: hsm.Signer) -> bytes:
    """A PKCS#10 request for ``signer``'s key, signed by it; DER."""
    info = csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": build_name(subject),
            "subject_pk_info": keys.PublicKeyInfo.load(signer.public_key),
            "attributes": [],
        }
    )
    signature = signer.sign(info.dump())
    return csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": signer.signature_algorithm_oid}),
            "signature": signature,
        }
    ).dump()


def parse_csr(data: bytes) -> ParsedCSR:
    """Parse a CSR (DER or PEM) without checking its signature.

    :raises CSRError: for anything that is not a well-formed request.
    """
    der = single_der(data, _PEM_TYPES, CSRError, "CSR")
    try:
        request = csr.CertificationRequest.load(der, strict=True)
        info = request["certification_request_info"]
        alg = request["signature_algorithm"]
        signature = request["signature"].native
        if not isinstance(signature, bytes):
            raise ValueError("signature is not a byte string")
        requested: list[str] = []
        for attribute in info["attributes"]:
            if attribute["type"].native != "extension_request":
                continue
            for extensions in attribute["values"]:
                requested.extend(ext["extn_id"].native for ext in extensions)
        info["subject_pk_info"].native  # noqa: B018 - forces the parse
        return ParsedCSR(
            der=der,
            info_der=info.dump(),
            signature=signature,
            signature_algorithm_oid=alg["algorithm"].dotted,
            signature_algorithm_der=alg.dump(),
            signature_parameters_der=alg["parameters"].dump(),
            subject=info["subject"],
            subject_str=format_name(info["subject"]),
            spki=info["subject_pk_info"].dump(),
            requested_extensions=tuple(requested),
            sha256=hashlib.sha256(der).hexdigest(),
            asn1=request,
        )
    except Exception as exc:
        raise CSRError("not a well-formed PKCS#10 certification request") from exc


def verify_csr(data: bytes) -> ParsedCSR:
    """Parse a CSR and check it is signed by the key it carries (SM2 default ID - or OpenSSL 3's
    empty ID, as ``openssl req`` signs without ``-sigopt distid:`` - or P-256).

    :raises CSRError: malformed. :raises InvalidSignature: the signature does not verify
        (:class:`~ca.errors.SignatureAlgorithmError` when the algorithm is refused).
    """
    parsed = parse_csr(data)
    verify_signed(
        what=f"CSR {parsed.subject_str!r}",
        tbs=parsed.info_der,
        signature=parsed.signature,
        oid=parsed.signature_algorithm_oid,
        parameters_der=parsed.signature_parameters_der,
        outer_der=parsed.signature_algorithm_der,
        inner_der=None,
        spki=parsed.spki,
    )
    return parsed
