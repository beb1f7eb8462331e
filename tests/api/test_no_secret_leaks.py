"""No secret leaks: run a realistic session (region and departments, keys, a seal applied, a
licence issued with its PDF, service codes, verifications, a console sign-in, a failed PIN and
a wrong API key), then search the captured logs, every column of every table (SQLite and
PostgreSQL), every HTTP response body and header, and the key-store files for the private
scalars of every key, the key-store PIN (and the wrong one tried), every API key and the
console session secret. None may be found.

The one deliberate exception: ``POST /api/v1/apikeys`` returns the key it creates, once; that
response is excluded from the search for that one key.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import keys as asn1_keys
from licence_bodies import business_body
from sqlalchemy import MetaData, create_engine, select

from api import create_app
from hsm.errors import WrongPINError
from trustsvc.apikeys import create_api_key
from trustsvc.config import load_config
from trustsvc.context import open_service
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.catalogue import BUSINESS_LICENCE

DEPT = "11320000MB0000001G"
OTHER = "11320000MB0000003" + uscc_check_char("11320000MB0000003")
SESSION_SECRET = "console-session-secret-for-the-leak-test-7f3a9c1e5b"
WRONG_PIN = "wrong-pin-attempt-5521"


@dataclass
class Recorder:
    """Every response the session got: (label, bytes of status line, headers and body)."""

    seen: list[tuple[str, bytes]] = field(default_factory=list)
    excluded: dict[int, str] = field(default_factory=dict)
    """index in ``seen`` -> the one secret that response may carry (a key shown once)."""

    def keep(self, label: str, resp: Any) -> Any:
        head = "\n".join(f"{k}: {v}" for k, v in resp.headers.items())
        self.seen.append((label, f"{resp.status}\n{head}\n".encode() + resp.get_data()))
        return resp


def _forms(secret: bytes) -> set[bytes]:
    """The encodings a leaked secret would most likely take."""
    out = {
        secret,
        base64.b64encode(secret),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        base64.b64encode(secret).rstrip(b"="),
    }
    if not secret.isascii() or len(secret) == 32:
        out |= {secret.hex().encode(), secret.hex().upper().encode()}
    return {f for f in out if len(f) >= 8}


def _private_scalars(keystore: Any) -> dict[str, bytes]:
    """key ref -> the 32-byte private scalar, unsealed through the key store (tests only)."""
    out = {}
    for ref in keystore.list_keys():
        handle = keystore.signer(ref)._handle
        if hasattr(handle, "pkcs8"):
            pkcs8 = handle.pkcs8()
        else:
            from cryptography.hazmat.primitives import serialization

            pkcs8 = handle.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        info = asn1_keys.PrivateKeyInfo.load(pkcs8)
        scalar = asn1_keys.ECPrivateKey.load(info["private_key"].contents)["private_key"].native
        out[ref] = int(scalar).to_bytes(32, "big")
        out[f"{ref} (PKCS#8)"] = pkcs8
    return out


def _database_blobs(url: str) -> list[tuple[str, bytes]]:
    """Every value of every column of every table, as bytes."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    out = []
    try:
        with engine.connect() as conn:
            for table in meta.tables.values():
                for row in conn.execute(select(table)):
                    for column, value in zip(table.columns.keys(), row):
                        if value is None:
                            continue
                        if isinstance(value, (bytes, bytearray, memoryview)):
                            data = bytes(value)
                        elif isinstance(value, str):
                            data = value.encode()
                        elif isinstance(value, (dict, list)):
                            data = json.dumps(value, ensure_ascii=False).encode()
                        else:
                            data = str(value).encode()
                        out.append((f"{table.name}.{column}", data))
    finally:
        engine.dispose()
    assert {"api_keys", "audit_log", "certificates"} <= set(meta.tables), "the whole schema was read"
    return out


def _session(service: Any, rec: Recorder) -> dict[str, str]:
    """The realistic session; returns the API keys it made (label -> token)."""
    app = create_app(service=service, SECRET_KEY=SESSION_SECRET)
    c = app.test_client()

    def call(label: str, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = {**kw.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        resp = rec.keep(label, c.open(path, method=method, headers=headers, **kw))
        assert resp.status_code < 500, (label, resp.status_code, resp.get_data(as_text=True)[:300])
        return resp

    with service.db.transaction() as s:
        admin = create_api_key(s, role="admin", actor="test").token
    tokens = {"admin": admin}
    call("department", "POST", "/api/v1/departments", admin, json={"uscc": OTHER, "name": "南京市市场监督管理局"})
    for label, body in (
        ("issuer", {"role": "issuer", "department": DEPT, "licence_types": [BUSINESS_LICENCE.code]}),
        ("seal manager", {"role": "seal_manager", "department": DEPT}),
        ("verifier", {"role": "verifier"}),
        ("doomed", {"role": "verifier"}),
    ):
        resp = call(f"create {label} key", "POST", "/api/v1/apikeys", admin, json=body)
        tokens[label] = resp.get_json()["api_key"]
        rec.excluded[len(rec.seen) - 1] = tokens[label]
    doomed_id = tokens["doomed"].split("_")[1]
    call("revoke key", "DELETE", f"/api/v1/apikeys/{doomed_id}", admin)
    call("revoked key", "GET", "/api/v1/whoami", tokens["doomed"])
    issuer, verifier = tokens["issuer"], tokens["verifier"]
    tokens["wrong"] = f"tsk_{doomed_id}_{'Q' * 43}"
    assert call("wrong key", "GET", "/api/v1/whoami", tokens["wrong"]).status_code == 401
    call("whoami", "GET", "/api/v1/whoami", issuer)

    # Seals are made by a seal manager (or an admin); the issuer signs with them.
    esid = call(
        "seal",
        "POST",
        "/api/v1/seals",
        tokens["seal manager"],
        json={"name": "江苏省市场监督管理局", "center_text": "证照专用章"},
    ).get_json()["esid"]
    signed = call(
        "seal sign",
        "POST",
        f"/api/v1/seals/{esid}/sign?format=der",
        issuer,
        data=b"a document",
        headers={"Content-Type": "application/octet-stream"},
    ).get_data()
    call(
        "verify ses",
        "POST",
        "/api/v1/verify",
        data={"file": (io.BytesIO(signed), "sig.dat"), "original": (io.BytesIO(b"a document"), "doc")},
        content_type="multipart/form-data",
    )
    licence = call(
        "issue", "POST", "/api/v1/licences", issuer, json=business_body(), headers={"Idempotency-Key": "leak-test"}
    ).get_json()["id"]
    pdf = call("pdf", "GET", f"/api/v1/licences/{licence}/file", issuer).get_data()
    call(
        "verify pdf",
        "POST",
        "/api/v1/verify",
        data={"file": (io.BytesIO(pdf), "licence.pdf")},
        content_type="multipart/form-data",
    )
    code = call("static code", "GET", f"/api/v1/licences/{licence}/code", issuer).get_data(as_text=True)
    call("code png", "GET", f"/api/v1/licences/{licence}/code?format=png", issuer)
    dynamic = call("dynamic code", "POST", f"/api/v1/licences/{licence}/codes", issuer, json={"ttl": 60}).get_json()[
        "code"
    ]
    call("verify code", "POST", "/api/v1/verify", json={"code": code})
    call("verify dynamic", "POST", "/api/v1/verify", verifier, json={"code": dynamic, "purpose": "窗口核验"})
    call("public page", "GET", f"/licences/{licence}")
    call("verify page", "POST", "/verify", data={"code": code})
    call("status list", "GET", f"/api/v1/status/{DEPT}")
    call("licences", "GET", "/api/v1/licences", issuer)
    call("revoke", "POST", f"/api/v1/licences/{licence}/suspend", issuer, json={"reason": "检查"})

    page = call("console login page", "GET", "/console/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    call("console refused", "POST", "/console/login", data={"csrf_token": csrf, "api_key": tokens["wrong"]})
    call("console login", "POST", "/console/login", data={"csrf_token": csrf, "api_key": issuer})
    listing = call("console list", "GET", "/console/licences").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', listing).group(1)
    call("console licence", "GET", f"/console/licences/{licence}")
    call("console logout", "POST", "/console/logout", data={"csrf_token": csrf})
    call("healthz", "GET", "/healthz")
    call("metrics", "GET", "/metrics")
    return tokens


def test_no_secret_reaches_logs_database_responses_or_key_files(service, service_env, caplog):
    caplog.set_level(logging.DEBUG)
    rec = Recorder()
    tokens = _session(service, rec)
    # A failed PIN: the service refuses to open, naming no PIN.
    bad_env = {**service_env, "TRUSTSVC_HSM_PIN": WRONG_PIN}
    with pytest.raises(WrongPINError) as info:
        open_service(load_config(bad_env), bad_env)
    logging.getLogger("trustsvc.test").error("start-up refused: %s: %s", info.value.code, info.value.message)

    secrets: dict[str, bytes] = {
        "PIN": service_env["TRUSTSVC_HSM_PIN"].encode(),
        "wrong PIN": WRONG_PIN.encode(),
        "console session secret": SESSION_SECRET.encode(),
    }
    for label, token in tokens.items():
        secrets[f"API key {label}"] = token.encode()
        secrets[f"API key {label} (secret part)"] = token.split("_", 2)[2].encode()
    scalars = _private_scalars(service.keystore)
    assert len([r for r in scalars if not r.endswith("(PKCS#8)")]) >= 10  # region, 2 departments
    secrets.update({f"private key {ref}": value for ref, value in scalars.items()})
    patterns = {label: _forms(value) for label, value in secrets.items()}

    haystacks: list[tuple[str, bytes, str | None]] = []  # (where, data, the secret it may carry)
    logs = caplog.text + "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "start-up refused: wrong_pin" in logs and "verify pdf -> PASSED" in logs, "the logs were captured"
    haystacks.append(("logs", logs.encode(), None))
    for index, (label, data) in enumerate(rec.seen):
        allowed = rec.excluded.get(index)
        haystacks.append((f"response {label!r}", data, allowed))
    haystacks += [(f"database {where}", data, None) for where, data in _database_blobs(service.config.database.url)]
    key_files = [p for p in Path(service.config.hsm.keystore_dir).rglob("*") if p.is_file()]
    assert len(key_files) >= 11
    haystacks += [(f"key store file {p.name}", p.read_bytes(), None) for p in key_files]

    found = []
    for where, data, allowed in haystacks:
        for label, forms in patterns.items():
            if allowed is not None and secrets[label] in (allowed.encode(), allowed.split("_", 2)[2].encode()):
                continue
            if any(form in data for form in forms):
                found.append(f"{label} in {where}")
    assert len(rec.seen) >= 30
    assert not found, "secrets found:\n  " + "\n  ".join(found)
