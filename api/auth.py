"""API-key authentication (``Authorization: Bearer tsk_…``) and role checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request

from trustsvc.apikeys import Principal, Role, principal_for_token
from trustsvc.errors import AuthenticationError, PermissionDeniedError

__all__ = ["require_role", "current_principal"]

F = TypeVar("F", bound=Callable[..., Any])


def _principal_from_request() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise AuthenticationError("this endpoint needs an API key (Authorization: Bearer …)", code="missing_api_key")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("use Authorization: Bearer <api key>", code="invalid_authorization")
    service = current_app.extensions["trustsvc"]
    return principal_for_token(service.db, token.strip())


def current_principal() -> Principal:
    principal: Principal | None = g.get("principal")
    if principal is None:
        principal = _principal_from_request()
        g.principal = principal
    return principal


def require_role(*roles: Role) -> Callable[[F], F]:
    """Allow callers whose key has one of ``roles``; admin keys are allowed everywhere."""

    allowed = set(roles) | {Role.ADMIN}

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal.role not in allowed:
                raise PermissionDeniedError(
                    f"a {principal.role.value} key may not do this; needs {' or '.join(sorted(r.value for r in allowed))}",
                    code="role_not_allowed",
                )
            return fn(*args, **kwargs)

        wrapper.required_roles = tuple(sorted(r.value for r in allowed))  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
