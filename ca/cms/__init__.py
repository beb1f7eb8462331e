"""CMS / PKCS#7 SignedData with SM2, in both OID families, and GM/T 0010 signedAndEnvelopedData.

Why one package: trust lists (eContentType JSON), PDF signatures, GB/T 35275 OFD signatures and
RFC 3161 tokens (:mod:`ca.tsa`) all sign and verify the same SignedData; the quirks of the
Chinese producers are handled here once. One module per job: :mod:`~ca.cms.signed_data`
(reading, hashes, results), :mod:`~ca.cms.sign`, :mod:`~ca.cms.verify` and
:mod:`~ca.cms.envelope` (decryption, through a :class:`hsm.KeyStore`).
"""

from __future__ import annotations

from .envelope import EnvelopeRecipient, SignedAndEnvelopedInfo, open_signed_and_enveloped, parse_signed_and_enveloped
from .sign import sign_cms
from .signed_data import (
    CT_DATA,
    CT_SIGNED_AND_ENVELOPED_DATA,
    CT_SIGNED_DATA,
    CT_TST_INFO,
    HASH_OIDS,
    CMSError,
    CMSShape,
    CMSVerification,
    hash_data,
    hash_name,
    signed_message_digest,
)
from .verify import verify_cms

__all__ = [
    "CMSError",
    "CMSShape",
    "CMSVerification",
    "EnvelopeRecipient",
    "SignedAndEnvelopedInfo",
    "sign_cms",
    "verify_cms",
    "parse_signed_and_enveloped",
    "open_signed_and_enveloped",
    "HASH_OIDS",
    "hash_name",
    "hash_data",
    "signed_message_digest",
    "CT_DATA",
    "CT_SIGNED_DATA",
    "CT_SIGNED_AND_ENVELOPED_DATA",
    "CT_TST_INFO",
]
