"""Request limits: every route refuses an oversized body with 413 (JSON for the API, a page for
the console), and the token buckets answer 429 with ``Retry-After`` on the verify endpoints and
after failed authentications (API keys and console sign-in)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest

from api import create_app
from api.limits import TokenBucket
from trustsvc import pki
from trustsvc.apikeys import create_api_key
from trustsvc.config import load_config, write_config
from trustsvc.context import open_service

DEPT = "11320000MB0000001G"
MAX = 4096
HERE, OTHER = "127.0.0.2", "127.0.0.3"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("limits") / "home"
    env = {"TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_PIN": "limits-pin", "DATABASE_URL": f"sqlite:///{home}.db"}
    write_config(home / "config.toml", {
        "region": {"code": "320000", "name": "江苏省"},
        "server": {"max_request_bytes": MAX},
        "limits": {"verify_per_minute": 1, "verify_burst": 3, "verify_key_per_minute": 1, "verify_key_burst": 2,
                   "auth_failures_per_minute": 1, "auth_failures_burst": 3}})
    svc = open_service(load_config(env), env, create_keystore=True)
    pki.init_region(svc, "320000", "江苏省", actor="test")
    pki.add_department(svc, DEPT, "江苏省市场监督管理局", actor="test")
    yield svc
    svc.close()


@pytest.fixture
def app(limited):
    """A fresh app (fresh buckets) per test over the module's service."""
    return create_app(service=limited, SECRET_KEY="limits-test-session-secret-0123456789abcdef")


def _key(service: Any, role: str = "verifier", **scope: Any) -> str:
    with service.db.transaction() as s:
        return create_api_key(s, role=role, actor="test", **scope).token


def _concrete(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: "revoke" if "revoke" in m.group(1) else "x", rule)


def test_every_route_refuses_an_oversized_body(app, limited):
    admin = _key(limited, "admin")
    routes = sorted({(m, r.rule) for r in app.url_map.iter_rules() for m in r.methods - {"GET", "HEAD", "OPTIONS"}})
    assert ("POST", "/api/v1/verify") in routes and ("POST", "/console/login") in routes
    wrong = []
    for method, rule in routes:
        resp = app.test_client().open(_concrete(rule), method=method, data=b"x" * (MAX + 1),
                                      headers={"Authorization": f"Bearer {admin}",
                                               "Content-Type": "application/octet-stream"})
        if resp.status_code != 413:
            wrong.append(f"{method} {rule}: {resp.status_code}")
        elif rule.startswith("/api/") and resp.get_json()["error"]["code"] != "payload_too_large":
            wrong.append(f"{method} {rule}: 413 without the JSON error")
    assert not wrong, wrong


def test_multipart_and_chunked_bodies_are_limited_too(app):
    client = app.test_client()
    resp = client.post("/api/v1/verify", data={"file": (io.BytesIO(b"x" * (MAX + 1)), "big.pdf")},
                       content_type="multipart/form-data")
    assert resp.status_code == 413 and resp.get_json()["error"]["code"] == "payload_too_large"
    # No Content-Length (chunked, as gunicorn passes it on): refused while the body is read.
    resp = client.post("/api/v1/verify", input_stream=io.BytesIO(b"x" * (MAX + 1)),
                       headers={"Transfer-Encoding": "chunked", "Content-Type": "application/octet-stream"},
                       environ_overrides={"wsgi.input_terminated": True})
    assert resp.status_code == 413 and resp.get_json()["error"]["code"] == "payload_too_large"
    # ... and a chunked body within the limit arrives whole (not cut at the limit).
    signer = _seal_signing(client, MAX - 100)
    assert signer.status_code == 200, signer.get_data(as_text=True)
    # Just under the limit is read and verified.
    resp = client.post("/api/v1/verify", data=b"y" * (MAX - 200), content_type="application/octet-stream")
    assert resp.status_code == 200 and resp.get_json()["indication"] in ("FAILED", "INDETERMINATE")


def _seal_signing(client: Any, size: int) -> Any:
    """Seal ``size`` bytes sent chunked, and check the signed dataHash covers all of them."""
    import hashlib

    from trustsvc.sealing import SealRequest, make_department_seal

    app = client.application
    svc = app.extensions["trustsvc"]
    seal = make_department_seal(svc, SealRequest(DEPT, "江苏省市场监督管理局"), actor="test")
    admin = _key(svc, "admin")
    data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    resp = client.post(f"/api/v1/seals/{seal.esid}/sign?timestamp=false", input_stream=io.BytesIO(data),
                       headers={"Authorization": f"Bearer {admin}", "Transfer-Encoding": "chunked",
                                "Content-Type": "application/octet-stream"},
                       environ_overrides={"wsgi.input_terminated": True})
    if resp.status_code == 200:
        assert resp.get_json()["data_sm3"] == hashlib.new("sm3", data).hexdigest()
    return resp


def _verify(client: Any, addr: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"code": "TS1:NOTACODE", **({"purpose": "limits"} if token else {})}
    return client.post("/api/v1/verify", json=body, headers=headers, environ_base={"REMOTE_ADDR": addr})


def test_verify_is_rate_limited_per_address_and_per_key(app, limited):
    client = app.test_client()
    assert [_verify(client, HERE).status_code for _ in range(3)] == [200, 200, 200]
    refused = _verify(client, HERE)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert _verify(client, OTHER).status_code == 200  # another address has its own bucket
    key = _key(limited)
    # A keyed verifier is limited by its key, not by the (exhausted) address.
    assert [_verify(client, HERE, key).status_code for _ in range(3)] == [200, 200, 429]
    # The page shares the address bucket and answers with a page.
    page = client.post("/verify", data={"code": "TS1:NOTACODE"}, environ_base={"REMOTE_ADDR": HERE})
    assert page.status_code == 429 and page.mimetype == "text/html" and int(page.headers["Retry-After"]) >= 1


def test_failed_authentications_lock_the_address_out(app, limited):
    client = app.test_client()
    good = _key(limited)
    bad = {"Authorization": "Bearer tsk_000000000000_" + "x" * 43}
    statuses = [client.get("/api/v1/whoami", headers=bad, environ_base={"REMOTE_ADDR": HERE}).status_code
                for _ in range(3)]
    assert statuses == [401, 401, 401]
    # Out of tokens: even the right key is refused from here until one refills...
    resp = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {good}"}, environ_base={"REMOTE_ADDR": HERE})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
    assert resp.get_json()["error"]["code"] == "rate_limited"
    # ...while another address, and requests without a key, are unaffected.
    assert client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {good}"},
                      environ_base={"REMOTE_ADDR": OTHER}).status_code == 200
    assert client.get("/api/v1/ca", environ_base={"REMOTE_ADDR": HERE}).status_code == 200


def _sign_in(client: Any, api_key: str, addr: str) -> Any:
    page = client.get("/console/login", environ_base={"REMOTE_ADDR": addr}).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/console/login", data={"csrf_token": csrf, "api_key": api_key},
                       environ_base={"REMOTE_ADDR": addr})


def test_console_sign_in_failures_are_rate_limited(app, limited):
    issuer = _key(limited, "issuer", department_uscc=DEPT)
    client = app.test_client()
    assert [_sign_in(client, "tsk_000000000000_wrong", HERE).status_code for _ in range(3)] == [401, 401, 401]
    refused = _sign_in(client, issuer, HERE)
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert int(refused.headers["Retry-After"]) >= 1
    assert _sign_in(app.test_client(), issuer, OTHER).status_code == 303


def test_token_bucket_refills_at_its_rate():
    bucket = TokenBucket(per_minute=60, burst=2)  # one token a second
    assert [bucket.take("a", now=100.0) for _ in range(3)] == [0, 0, 1]
    assert bucket.waiting("a", now=100.5) == 1
    assert bucket.take("a", now=101.0) == 0
    assert bucket.take("b", now=101.0) == 0  # keys are independent
    assert bucket.take("a", now=101.2) == 1
    assert bucket.waiting("a", now=110.0) == 0  # refilled (capped at the burst)
    assert [bucket.take("a", now=110.0) for _ in range(3)] == [0, 0, 1]
    off = TokenBucket(per_minute=0, burst=1)
    assert all(off.take("a", now=1.0) == 0 for _ in range(100))
