"""Electronic seals (电子印章) and SES signatures (电子签章): GM/T 0031-2014 ("v1"),
GB/T 38540-2020 ("v4") and GM/T 0031-2025 ("v5").

* :mod:`.asn1` — the structures as asn1crypto classes (what trustsvc emits);
* :mod:`.parse` — tolerant, shape-based parsing that keeps the signed bytes;
* :mod:`.verify` — verification into a :class:`~trustsvc.formats.report.VerificationReport`;
* :mod:`.make` — making v4 seals and applying them to documents;
* :mod:`.picture` — seal pictures (the red round seal; uploaded images).

OFD documents are verified by :mod:`trustsvc.formats.ofd`; trust inputs live in :mod:`trustsvc.formats.trust`.
"""

from __future__ import annotations

from .errors import SealingError, SealPictureError, SESFormatError
from .make import SealSpec, SignedDocument, make_seal, sign_document, sign_document_parts
from .model import CertDigest, CertList, ParsedSeal, ParsedSESSignature, SealHeader, SealPicture, TimeInfo
from .parse import identify, parse_seal, parse_ses_signature
from .picture import load_uploaded_picture, render_round_seal, round_seal_picture
from .verify import TSTVerifier, verify_seal, verify_ses_signature

__all__ = [
    "SESFormatError",
    "SealingError",
    "SealPictureError",
    "SealSpec",
    "SealPicture",
    "make_seal",
    "sign_document",
    "sign_document_parts",
    "SignedDocument",
    "ParsedSeal",
    "ParsedSESSignature",
    "SealHeader",
    "CertList",
    "CertDigest",
    "TimeInfo",
    "identify",
    "parse_seal",
    "parse_ses_signature",
    "render_round_seal",
    "round_seal_picture",
    "load_uploaded_picture",
    "TSTVerifier",
    "verify_seal",
    "verify_ses_signature",
]
