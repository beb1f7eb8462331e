"""Domain errors. All derive from :class:`hsm.errors.TrustSvcError` and declare their
``http_status``; ``api/errors.py`` turns them into a response once. Messages are safe to show;
codes are stable and machine-readable."""

from __future__ import annotations

from dataclasses import dataclass

from hsm.errors import HSMError, InvalidSignature, TrustSvcError

__all__ = [
    "TrustSvcError",
    "HSMError",
    "InvalidSignature",
    "ConfigurationError",
    "InvalidInputError",
    "FieldProblem",
    "MalformedRequestError",
    "NotFoundError",
    "ConflictError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotInitialisedError",
    "AuditChainError",
    "RateLimitedError",
    "UpstreamTimeoutError",
]


class ConfigurationError(TrustSvcError, ValueError):
    """Configuration is missing, unknown or invalid; the service refuses to start."""

    code = "configuration_error"
    http_status = 500


@dataclass(frozen=True)
class FieldProblem:
    """One field's validation problem, so a client or a form can show each next to its field."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class InvalidInputError(TrustSvcError, ValueError):
    """A request or command argument is malformed or fails validation.

    :param field: the offending field, when there is one.
    :param problems: every problem found, as ``FieldProblem`` (field, code, message), when a
        validator checks several fields at once; ``code`` and ``field`` are then the first's.
    """

    code = "invalid_input"
    http_status = 422

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        problems: tuple[FieldProblem, ...] = (),
    ) -> None:
        super().__init__(message, code=code)
        self.field = field
        self.problems = problems


class MalformedRequestError(InvalidInputError):
    """The request cannot be read at all (not JSON, wrong content type, missing body)."""

    code = "malformed_request"
    http_status = 400


class NotFoundError(TrustSvcError):
    code = "not_found"
    http_status = 404


class ConflictError(TrustSvcError):
    """The request contradicts what is stored (e.g. a different body under one idempotency key)."""

    code = "conflict"
    http_status = 409


class AuthenticationError(TrustSvcError):
    code = "unauthenticated"
    http_status = 401


class PermissionDeniedError(TrustSvcError):
    code = "forbidden"
    http_status = 403


class NotInitialisedError(TrustSvcError):
    """No region has been initialised in this TRUSTSVC_HOME / database."""

    code = "not_initialised"
    http_status = 503


class AuditChainError(TrustSvcError):
    code = "audit_chain_broken"
    http_status = 500


class RateLimitedError(TrustSvcError):
    """Too many requests (verifications) or failed sign-ins from one client or key; 429 with
    ``Retry-After``. See ``api/limits.py``."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, int(retry_after))


class UpstreamTimeoutError(TrustSvcError):
    """Another service (a peer region) did not answer within the overall deadline; 504. Apart
    from an unreachable or refusing peer (422), because retrying later may well succeed."""

    code = "peer_fetch_timeout"
    http_status = 504
