"""Signing in to the issuer console with an API key, and the console session's secret.

A browser session never holds the key: :func:`sign_in` checks the key once and the session
keeps the key's id, which :func:`session_principal` resolves again on every request (so a
revoked key ends its sessions). Log-ins, refused log-ins and log-outs are audited.

The session cookie is signed with a secret that is not part of :class:`~trustsvc.config.Config`
(like the PIN it is read when needed): ``TRUSTSVC_SECRET_KEY``, else the file named by
``[server] session_secret_file``, else in demo mode ``$TRUSTSVC_HOME/session.key``, created
with a random secret (mode 0600) on first use. Without any, the console is disabled.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from hsm.soft import create_exclusive

from .apikeys import Principal, Role, authenticate, principal_for_key_id
from .audit import AuditEvent, record
from .config import Config
from .context import TrustService
from .errors import AuthenticationError, ConfigurationError, PermissionDeniedError

__all__ = [
    "CONSOLE_ROLES",
    "sign_in",
    "sign_out",
    "session_principal",
    "SECRET_ENV",
    "DEMO_SECRET_FILE",
    "resolve_session_secret",
    "create_demo_session_secret",
]

CONSOLE_ROLES = (Role.ADMIN, Role.ISSUER)
SECRET_ENV = "TRUSTSVC_SECRET_KEY"
DEMO_SECRET_FILE = "session.key"
_MIN_SECRET = 32
_MAX_SECRET_FILE = 4096


def _key_id_of(token: str) -> str:
    """The id part of ``tsk_<id>_<secret>`` (not secret; named in the audit of a refused log-in)."""
    parts = token.split("_", 2)
    return parts[1][:32] if len(parts) == 3 and parts[0] == "tsk" else ""


def sign_in(service: TrustService, token: str, *, source: str = "") -> Principal:
    """The principal of ``token`` if it may use the console; audits the attempt either way.

    :param source: where the attempt came from (the client address), for the audit log.
    :raises AuthenticationError: unknown, malformed or revoked key.
    :raises PermissionDeniedError: ``role_not_allowed`` for verifier and peer keys.
    """
    token = token.strip()
    with service.db.transaction() as session:
        try:
            principal = authenticate(session, token)
        except AuthenticationError as exc:
            record(
                session,
                AuditEvent(
                    actor="console",
                    action="console.login_refused",
                    object_type="api_key",
                    object_id=_key_id_of(token),
                    details={"code": exc.code, "source": source},
                ),
            )
            refused: AuthenticationError | PermissionDeniedError = exc
        else:
            if principal.role in CONSOLE_ROLES:
                record(
                    session,
                    AuditEvent(
                        actor=principal.actor,
                        action="console.login",
                        object_type="api_key",
                        object_id=principal.key_id,
                        details={"role": principal.role.value, "source": source},
                    ),
                )
                return principal
            record(
                session,
                AuditEvent(
                    actor=principal.actor,
                    action="console.login_refused",
                    object_type="api_key",
                    object_id=principal.key_id,
                    details={"code": "role_not_allowed", "source": source},
                ),
            )
            refused = PermissionDeniedError(
                f"a {principal.role.value} key cannot use the console; use an issuer or admin key",
                code="role_not_allowed",
            )
    raise refused


def sign_out(service: TrustService, principal: Principal, *, source: str = "") -> None:
    with service.db.transaction() as session:
        record(
            session,
            AuditEvent(
                actor=principal.actor,
                action="console.logout",
                object_type="api_key",
                object_id=principal.key_id,
                details={"source": source},
            ),
        )


def session_principal(service: TrustService, key_id: str) -> Principal:
    """The principal a console session stands for, checked again against the stored key.

    :raises AuthenticationError: the key is unknown or revoked now.
    """
    with service.db.reader() as session:
        principal = principal_for_key_id(session, key_id)
    if principal.role not in CONSOLE_ROLES:
        raise AuthenticationError("this key cannot use the console", code="role_not_allowed")
    return principal


# -- the session secret -------------------------------------------------------------------------


def _read_secret_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigurationError(f"session secret file {path} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read session secret file {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigurationError(f"session secret file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise ConfigurationError(
                f"session secret file {path} is accessible to group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); chmod 600 it"
            )
        data = os.read(fd, _MAX_SECRET_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_SECRET_FILE:
        raise ConfigurationError(f"session secret file {path} is larger than {_MAX_SECRET_FILE} bytes")
    return data.strip()


def create_demo_session_secret(path: Path) -> bool:
    """Create ``path`` with a random secret (0600) unless it exists; True when created."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        create_exclusive(path, (secrets.token_urlsafe(48) + "\n").encode("ascii"))
    except FileExistsError:
        return False
    return True


def resolve_session_secret(config: Config, env: Mapping[str, str]) -> bytes | None:
    """The console session secret (see the module docstring), or None when there is none.

    :raises ConfigurationError: a configured secret is too short, or its file is missing,
        unreadable or readable by others.
    """
    value = env.get(SECRET_ENV)
    if value:
        secret = value.strip().encode("utf-8")
        source = SECRET_ENV
    elif config.server.session_secret_file is not None:
        secret = _read_secret_file(config.server.session_secret_file)
        source = str(config.server.session_secret_file)
    elif config.demo:
        path = config.home / DEMO_SECRET_FILE
        create_demo_session_secret(path)
        secret = _read_secret_file(path)
        source = str(path)
    else:
        return None
    if len(secret) < _MIN_SECRET:
        raise ConfigurationError(f"the console session secret ({source}) must be at least {_MIN_SECRET} characters")
    return secret
