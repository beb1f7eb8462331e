"""Console sign-in (audited, key re-checked per request) and the session secret's sources."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from trustsvc.apikeys import Role, create_api_key, revoke_api_key
from trustsvc.audit import verify_chain
from trustsvc.config import load_config
from trustsvc.errors import AuthenticationError, ConfigurationError, PermissionDeniedError
from trustsvc.signin import resolve_session_secret, session_principal, sign_in, sign_out
from trustsvc.storage.models import AuditEventRecord


def _keys(service) -> dict[str, str]:
    with service.db.transaction() as s:
        out = {r: create_api_key(s, role=r, actor="test").token for r in ("admin", "verifier")}
        out["issuer"] = create_api_key(s, role="issuer", actor="test", department_uscc="11320000MB0000001G").token
    return out


def _events(service) -> list[tuple[str, str, str]]:
    with service.db.reader() as s:
        rows = (
            s.execute(
                select(AuditEventRecord).where(AuditEventRecord.action.like("console.%")).order_by(AuditEventRecord.seq)
            )
            .scalars()
            .all()
        )
        return [(r.action, r.object_id, r.details) for r in rows]


def test_sign_in_and_out_are_audited_and_the_key_never_is(service) -> None:
    keys = _keys(service)
    issuer = sign_in(service, keys["issuer"], source="127.0.0.1")
    assert issuer.role is Role.ISSUER and issuer.department_uscc == "11320000MB0000001G"
    assert sign_in(service, keys["admin"]).role is Role.ADMIN
    with pytest.raises(PermissionDeniedError) as denied:
        sign_in(service, keys["verifier"])
    assert denied.value.code == "role_not_allowed"
    with pytest.raises(AuthenticationError) as bad:
        sign_in(service, keys["issuer"][:-3] + "xyz")
    assert bad.value.code == "invalid_api_key"
    with pytest.raises(AuthenticationError):
        sign_in(service, "not a key")
    sign_out(service, issuer)
    events = _events(service)
    assert [e[0] for e in events] == [
        "console.login",
        "console.login",
        "console.login_refused",
        "console.login_refused",
        "console.login_refused",
        "console.logout",
    ]
    assert events[0][1] == issuer.key_id and '"source":"127.0.0.1"' in events[0][2]
    assert events[3][1] == issuer.key_id and '"code":"invalid_api_key"' in events[3][2]
    for token in keys.values():
        assert all(token.split("_", 2)[2] not in e[2] for e in events)
    with service.db.reader() as s:
        assert verify_chain(s).ok


def test_session_principal_follows_revocation(service) -> None:
    keys = _keys(service)
    principal = sign_in(service, keys["issuer"])
    assert session_principal(service, principal.key_id) == principal
    with service.db.transaction() as s:
        revoke_api_key(s, principal.key_id, actor="test")
    with pytest.raises(AuthenticationError) as exc:
        session_principal(service, principal.key_id)
    assert exc.value.code == "revoked_api_key"
    with pytest.raises(AuthenticationError):
        session_principal(service, "0123456789ab")


def test_secret_sources(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = load_config({}, home=home)
    assert resolve_session_secret(config, {}) is None  # no secret: the console stays off
    assert resolve_session_secret(config, {"TRUSTSVC_SECRET_KEY": "s" * 40}) == b"s" * 40
    with pytest.raises(ConfigurationError, match="at least 32"):
        resolve_session_secret(config, {"TRUSTSVC_SECRET_KEY": "short"})

    demo = replace(config, demo=True)
    first = resolve_session_secret(demo, {})
    path = home / "session.key"
    assert first is not None and len(first) >= 32 and (path.stat().st_mode & 0o777) == 0o600
    assert resolve_session_secret(demo, {}) == first  # kept, not regenerated

    secret_file = tmp_path / "secret"
    secret_file.write_text("x" * 48 + "\n")
    os.chmod(secret_file, 0o644)
    (home / "config.toml").write_text(f'[server]\nsession_secret_file = "{secret_file}"\n')
    configured = load_config({}, home=home)
    assert configured.server.session_secret_file == secret_file
    with pytest.raises(ConfigurationError, match="group or others"):
        resolve_session_secret(configured, {})
    os.chmod(secret_file, 0o600)
    assert resolve_session_secret(configured, {}) == b"x" * 48
    assert resolve_session_secret(configured, {"TRUSTSVC_SECRET_KEY": "e" * 32}) == b"e" * 32
    secret_file.unlink()
    with pytest.raises(ConfigurationError, match="does not exist"):
        resolve_session_secret(configured, {})
    (home / "config.toml").write_text('[server]\nsession_secret_file = "rel.key"\n')
    assert load_config({}, home=home).server.session_secret_file == home.resolve() / "rel.key"
