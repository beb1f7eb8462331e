"""Request limits: every route refuses an oversized body with 413 (JSON for the API, a page for
the console), and the rate limits answer 429 with ``Retry-After`` on the verify endpoints, the
TSA and OCSP, and after failed authentications (per presented key id and per address, for API
keys and console sign-in); each 429 is counted at /metrics. Memory storage here (a fresh app
has fresh counts); the Redis store shared by apps, workers and hosts: see the Redis tests below
and tests/resilience/test_shared_limits.py."""

from __future__ import annotations

import io
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from api import create_app
from api.limits import window
from trustsvc import pki
from trustsvc.apikeys import create_api_key
from trustsvc.config import load_config, write_config
from trustsvc.context import open_service
from trustsvc.errors import ConfigurationError

DEPT = "11320000MB0000001G"
MAX = 4096
HERE, OTHER = "127.0.0.2", "127.0.0.3"
LIMITS = {
    "verify_per_minute": 1,
    "verify_burst": 3,
    "verify_key_per_minute": 1,
    "verify_key_burst": 2,
    "auth_failures_per_minute": 1,
    "auth_failures_burst": 3,
    "auth_failures_address_per_minute": 1,
    "auth_failures_address_burst": 6,
    "tsa_per_minute": 1,
    "tsa_burst": 2,
    "ocsp_per_minute": 1,
    "ocsp_burst": 2,
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("limits") / "home"
    env = {"TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_PIN": "limits-pin", "DATABASE_URL": f"sqlite:///{home}.db"}
    write_config(
        home / "config.toml",
        {"region": {"code": "320000", "name": "江苏省"}, "server": {"max_request_bytes": MAX}, "limits": LIMITS},
    )
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
        resp = app.test_client().open(
            _concrete(rule),
            method=method,
            data=b"x" * (MAX + 1),
            headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/octet-stream"},
        )
        if resp.status_code != 413:
            wrong.append(f"{method} {rule}: {resp.status_code}")
        elif rule.startswith("/api/") and resp.get_json()["error"]["code"] != "payload_too_large":
            wrong.append(f"{method} {rule}: 413 without the JSON error")
    assert not wrong, wrong


def test_multipart_and_chunked_bodies_are_limited_too(app):
    client = app.test_client()
    resp = client.post(
        "/api/v1/verify", data={"file": (io.BytesIO(b"x" * (MAX + 1)), "big.pdf")}, content_type="multipart/form-data"
    )
    assert resp.status_code == 413 and resp.get_json()["error"]["code"] == "payload_too_large"
    # No Content-Length (chunked, as gunicorn passes it on): refused while the body is read.
    resp = client.post(
        "/api/v1/verify",
        input_stream=io.BytesIO(b"x" * (MAX + 1)),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/octet-stream"},
        environ_overrides={"wsgi.input_terminated": True},
    )
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
    resp = client.post(
        f"/api/v1/seals/{seal.esid}/sign?timestamp=false",
        input_stream=io.BytesIO(data),
        headers={
            "Authorization": f"Bearer {admin}",
            "Transfer-Encoding": "chunked",
            "Content-Type": "application/octet-stream",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
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


def _behind_proxies(limited: Any, hops: int) -> Any:
    """An app over the module's service configured with ``[server] proxy_hops = hops``."""
    from dataclasses import replace

    cfg = replace(limited.config, server=replace(limited.config.server, proxy_hops=hops))
    return create_app(service=replace(limited, config=cfg), SECRET_KEY="limits-test-session-secret-0123456789abcdef")


def _verify_via(client: Any, addr: str, forwarded_for: str) -> int:
    resp = client.post(
        "/api/v1/verify",
        json={"code": "TS1:NOTACODE"},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": addr},
    )
    return int(resp.status_code)


def test_without_proxy_hops_a_forged_forwarded_for_changes_nothing(limited):
    client = _behind_proxies(limited, 0).test_client()
    # Each request claims another client: the limit still counts the connection's address.
    assert [_verify_via(client, HERE, f"198.51.100.{i}") for i in range(4)] == [200, 200, 200, 429]
    assert _verify_via(client, OTHER, "198.51.100.9") == 200


def test_with_one_proxy_hop_clients_behind_the_proxy_are_limited_separately(limited):
    client = _behind_proxies(limited, 1).test_client()
    proxy, alice, bob = "10.0.0.1", "198.51.100.1", "198.51.100.2"
    assert [_verify_via(client, proxy, alice) for _ in range(4)] == [200, 200, 200, 429]
    assert [_verify_via(client, proxy, bob) for _ in range(4)] == [200, 200, 200, 429]
    # Only the entry the one trusted proxy appended counts: what the client put before it is ignored.
    assert _verify_via(client, proxy, f"203.0.113.7, {alice}") == 429
    # No header (a request not through the proxy): the connection's address.
    assert client.post("/api/v1/verify", json={"code": "TS1:X"}, environ_base={"REMOTE_ADDR": proxy}).status_code == 200


def test_proxy_hops_is_read_from_the_environment_and_bounded(tmp_path):
    env = {"TRUSTSVC_HOME": str(tmp_path)}
    assert load_config(env).server.proxy_hops == 0
    assert load_config({**env, "TRUSTSVC_SERVER_PROXY_HOPS": "2"}).server.proxy_hops == 2
    with pytest.raises(ConfigurationError, match="proxy_hops"):
        load_config({**env, "TRUSTSVC_SERVER_PROXY_HOPS": "9"})


def _bad_key(key_id: str = "000000000000") -> dict[str, str]:
    return {"Authorization": f"Bearer tsk_{key_id}_" + "x" * 43}


def _whoami(client: Any, headers: dict[str, str], addr: str) -> int:
    return int(client.get("/api/v1/whoami", headers=headers, environ_base={"REMOTE_ADDR": addr}).status_code)


def test_failed_authentications_lock_out_the_key_id_not_every_key_behind_the_address(app, limited):
    client = app.test_client()
    good = {"Authorization": f"Bearer {_key(limited)}"}
    assert [_whoami(client, _bad_key(), HERE) for _ in range(3)] == [401, 401, 401]
    # Out of failures for this key id from here: 429, whether the secret is right or not...
    resp = client.get("/api/v1/whoami", headers=_bad_key(), environ_base={"REMOTE_ADDR": HERE})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
    assert resp.get_json()["error"]["code"] == "rate_limited"
    # ...while another key behind the same address (one proxy for every client) still works,
    # and the same key id from another address has its own budget.
    assert _whoami(client, good, HERE) == 200
    assert _whoami(client, _bad_key(), OTHER) == 401
    # Many invented key ids from one address: the address's own budget (6) runs out, and then
    # every request from it presenting a key gets 429; requests without a key do not.
    assert [_whoami(client, _bad_key(f"{i:012x}"), HERE) for i in range(1, 4)] == [401, 401, 401]
    assert _whoami(client, _bad_key("0000000000ff"), HERE) == 429
    assert _whoami(client, good, HERE) == 429
    assert _whoami(client, good, OTHER) == 200
    assert client.get("/api/v1/ca", environ_base={"REMOTE_ADDR": HERE}).status_code == 200


def test_unreadable_keys_share_one_key_id_budget(app):
    client = app.test_client()
    for header in ("Bearer not-a-key", "Basic dXNlcjpwYXNz", "Bearer tsk_NOT-HEX-AT-ALL_x"):
        assert _whoami(client, {"Authorization": header}, HERE) == 401
    assert _whoami(client, {"Authorization": "Bearer tsk__"}, HERE) == 429


def _sign_in(client: Any, api_key: str, addr: str) -> Any:
    page = client.get("/console/login", environ_base={"REMOTE_ADDR": addr}).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post(
        "/console/login", data={"csrf_token": csrf, "api_key": api_key}, environ_base={"REMOTE_ADDR": addr}
    )


def test_console_sign_in_failures_are_rate_limited(app, limited):
    issuer = _key(limited, "issuer", department_uscc=DEPT)
    client = app.test_client()
    assert [_sign_in(client, "tsk_000000000000_wrong", HERE).status_code for _ in range(3)] == [401, 401, 401]
    refused = _sign_in(client, "tsk_000000000000_wrong", HERE)
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert int(refused.headers["Retry-After"]) >= 1
    # Another key signs in from the same address, and from another one.
    assert _sign_in(app.test_client(), issuer, HERE).status_code == 303
    assert _sign_in(app.test_client(), issuer, OTHER).status_code == 303


def test_tsa_and_ocsp_are_rate_limited_per_address(app, limited):
    from ca.tsa import build_request

    client = app.test_client()
    query = build_request(b"limits", hash_algorithm="sm3", nonce=1)
    headers = {"Content-Type": "application/timestamp-query"}
    tsa = [
        client.post("/api/v1/tsa", data=query, headers=headers, environ_base={"REMOTE_ADDR": HERE}) for _ in range(3)
    ]
    assert [r.status_code for r in tsa] == [200, 200, 429]
    assert tsa[2].get_json()["error"]["code"] == "rate_limited" and int(tsa[2].headers["Retry-After"]) >= 1
    assert (
        client.post("/api/v1/tsa", data=query, headers=headers, environ_base={"REMOTE_ADDR": OTHER}).status_code == 200
    )
    # GET and POST share the OCSP budget (whatever the request says: malformed ones cost too).
    ocsp = [
        client.post(
            "/api/v1/ocsp",
            data=b"0",
            headers={"Content-Type": "application/ocsp-request"},
            environ_base={"REMOTE_ADDR": HERE},
        ),
        client.get("/api/v1/ocsp/MAA=", environ_base={"REMOTE_ADDR": HERE}),
        client.get("/api/v1/ocsp/MAA=", environ_base={"REMOTE_ADDR": HERE}),
    ]
    assert [_ocsp_status(r) for r in ocsp] == ["malformed_request", "malformed_request", "try_later"]


def _ocsp_status(resp: Any) -> str:
    """The responseStatus of an HTTP answer that must be an OCSP response."""
    from asn1crypto import ocsp

    assert resp.status_code == 200 and resp.mimetype == "application/ocsp-response", (resp.status_code, resp.data)
    return str(ocsp.OCSPResponse.load(resp.get_data())["response_status"].native)


def test_ocsp_over_its_limit_answers_try_later_as_an_ocsp_response(app, limited, tmp_path):
    """An OCSP client reads OCSP responses, not HTTP 429s: over the limit it gets tryLater (RFC
    6960 §4.2.1, value 3) with Retry-After, counted among the refusals at /metrics."""
    import subprocess

    client = app.test_client()
    before = _rate_limited_count(client, "/api/v1/ocsp", "ocsp")
    post = {
        "data": b"0",
        "headers": {"Content-Type": "application/ocsp-request"},
        "environ_base": {"REMOTE_ADDR": HERE},
    }
    answers = [client.post("/api/v1/ocsp", **post) for _ in range(3)]
    assert [_ocsp_status(r) for r in answers] == ["malformed_request", "malformed_request", "try_later"]
    refused = answers[2]
    assert int(refused.headers["Retry-After"]) >= 1 and "no-store" in refused.headers["Cache-Control"]
    assert refused.get_data() == bytes.fromhex("30030a0103")  # OCSPResponse { responseStatus tryLater (3) }
    assert _rate_limited_count(client, "/api/v1/ocsp", "ocsp") == before + 1
    # and OpenSSL's OCSP client reads it as such
    (tmp_path / "resp.der").write_bytes(refused.get_data())
    shown = subprocess.run(
        ["openssl", "ocsp", "-respin", str(tmp_path / "resp.der"), "-resp_text", "-noverify"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Responder Error: trylater (3)" in shown.stdout, shown


def _rate_limited_count(client: Any, endpoint: str, limit: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    pattern = (
        r'^trustsvc_http_rate_limited_total\{endpoint="'
        + re.escape(endpoint)
        + r'",limit="'
        + re.escape(limit)
        + r'"\} ([0-9.e+]+)$'
    )
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_the_429s_by_endpoint_and_limit(app):
    client = app.test_client()
    before = _rate_limited_count(client, "/api/v1/verify", "verify-address")
    statuses = [_verify(client, HERE).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert _rate_limited_count(client, "/api/v1/verify", "verify-address") == before + 2


def test_limit_window_keeps_the_rate_and_the_burst():
    assert window(300, 300) == "300 per 60 second"
    assert window(1200, 600) == "600 per 30 second"  # 1200 a minute in the long run
    assert window(10, 20) == "20 per 120 second"
    assert window(1, 3) == "3 per 180 second"
    assert window(0, 5) == ""  # off


@pytest.mark.parametrize("url", ["redis", "http://127.0.0.1:6379", "memcached://127.0.0.1"])
def test_storage_url_must_be_memory_or_redis(tmp_path, url):
    env = {"TRUSTSVC_HOME": str(tmp_path), "TRUSTSVC_LIMITS_STORAGE_URL": url}
    with pytest.raises(ConfigurationError, match="storage_url"):
        load_config(env)
    for good in ("", "memory://", "redis://127.0.0.1:6379/15", "rediss://h:6380/0", "redis+unix:///run/redis.sock"):
        assert load_config({**env, "TRUSTSVC_LIMITS_STORAGE_URL": good}).limits.storage_url == good


# -- a shared store: two apps (as two workers or hosts) over one Redis ---------------------------


def _apps(limited: Any, storage_url: str) -> list[Any]:
    """Two apps over the module's service, as two gunicorn workers would have, counting in
    ``storage_url``."""
    from dataclasses import replace

    cfg = replace(limited.config, limits=replace(limited.config.limits, storage_url=storage_url))
    shared = replace(limited, config=cfg)
    return [create_app(service=shared, SECRET_KEY="limits-test-session-secret-0123456789abcdef") for _ in range(2)]


def _fresh_address() -> str:
    """An address no earlier run has counted for (Redis keeps counts across test runs)."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def test_two_apps_sharing_redis_share_every_limit(limited, redis_url):
    first, second = (app.test_client() for app in _apps(limited, redis_url))
    addr = _fresh_address()
    # verify by address: 3 in all, whichever app answers
    assert [_verify(c, addr).status_code for c in (first, second, first, second)] == [200, 200, 200, 429]
    # failed authentications by key id: 3 in all
    key_id = f"{random.getrandbits(48):012x}"
    assert [_whoami(c, _bad_key(key_id), addr) for c in (second, first, second, first)] == [401, 401, 401, 429]


def test_memory_storage_counts_per_app(limited):
    first, second = (app.test_client() for app in _apps(limited, "memory://"))
    assert [_verify(first, HERE).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert [_verify(second, HERE).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_unreachable_redis_falls_back_to_memory_not_to_errors(limited):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (client, _) = (app.test_client() for app in _apps(limited, f"redis://127.0.0.1:{port}/0"))
    assert [_verify(client, HERE).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert [_whoami(client, _bad_key(), HERE) for _ in range(4)] == [401, 401, 401, 429]
