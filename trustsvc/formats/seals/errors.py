"""Errors of the seal layer.

Parsing raises exactly one kind, :class:`SESFormatError`, whatever the input; verifiers catch it
and turn it into a FAILED / FORMAT_FAILURE report, so callers of ``verify_*`` never see it.
Making seals and signatures refuses with :class:`SealingError`, whose ``code`` says why.
"""

from __future__ import annotations

from hsm.errors import TrustSvcError

__all__ = ["SESFormatError", "SealingError", "SealPictureError"]


class SESFormatError(TrustSvcError, ValueError):
    """The bytes are not a (tolerably) well-formed SES seal or signature.

    :param field: dotted path of the offending field (``SESeal.eSealInfo.property.createDate``).
    """

    code = "ses_format"
    http_status = 422

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class SealingError(TrustSvcError, ValueError):
    """Making a seal or applying it was refused; ``code`` names the reason, e.g.
    ``signer_not_in_seal``, ``outside_seal_validity``, ``signer_key_mismatch``."""

    code = "sealing_refused"
    http_status = 422


class SealPictureError(TrustSvcError, ValueError):
    """A seal picture cannot be rendered (no CJK font) or an uploaded one is unacceptable."""

    code = "seal_picture"
    http_status = 422
