"""JSON bodies no client can turn into a 500: nesting and size are bounded before the parser
runs (``[server] max_json_depth`` / ``max_json_bytes``), a lone UTF-16 surrogate escaped in any
text (``"\\ud800"``) is a 422 ``invalid_text`` naming the field, and numbers must fit 64 bits.
Each case was a 500 before (RecursionError, UnicodeEncodeError, ValueError)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api import create_app
from trustsvc.apikeys import create_api_key

DEPT = "11320000MB0000001G"
LICENCE = "11100000MB0143028R001"  # 营业执照
MISSING = "11320000MB0000001G.11100000MB0143028R001.001.000001"
SURROGATE = "\ud800"

# Every route that reads a JSON body (POST), with the admin key.
JSON_ROUTES = [
    "/api/v1/apikeys",
    "/api/v1/departments",
    "/api/v1/licences",
    f"/api/v1/licences/{MISSING}/change",
    f"/api/v1/licences/{MISSING}/renew",
    f"/api/v1/licences/{MISSING}/revoke",
    f"/api/v1/licences/{MISSING}/suspend",
    f"/api/v1/licences/{MISSING}/reinstate",
    f"/api/v1/licences/{MISSING}/codes",
    "/api/v1/seals",
    "/api/v1/trust/peers",
    "/api/v1/verify",
]


@pytest.fixture
def admin(service: Any) -> str:
    with service.db.transaction() as s:
        return create_api_key(s, role="admin", actor="test").token


def _post(client: Any, path: str, raw: bytes | str, key: str) -> Any:
    data = raw.encode() if isinstance(raw, str) else raw
    return client.post(path, data=data, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})


def _error(resp: Any) -> dict[str, Any]:
    body = resp.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), resp.get_data()[:300]
    return body["error"]  # type: ignore[no-any-return]


def test_json_nested_100k_deep_is_refused_before_parsing_everywhere(client: Any, admin: str) -> None:
    for deep in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        for path in JSON_ROUTES:
            resp = _post(client, path, deep, admin)
            assert resp.status_code == 400 and _error(resp)["code"] == "json_too_deep", (path, resp.status_code)


def test_depth_limit_is_exact_and_strings_do_not_count(client: Any, admin: str) -> None:
    def body(depth: int) -> str:
        return json.dumps({"code": "TS1:NOTACODE", "x": json.loads("[" * (depth - 1) + "]" * (depth - 1))})

    assert client.post("/api/v1/verify", data=body(32), content_type="application/json").status_code == 200
    resp = client.post("/api/v1/verify", data=body(33), content_type="application/json")
    assert resp.status_code == 400 and _error(resp)["code"] == "json_too_deep"
    # Brackets inside strings (escaped quotes and backslashes too) are text, not nesting.
    text = json.dumps({"code": "TS1:NOTACODE", "purpose": '\\"' + "[" * 150 + '"\\'})
    assert client.post("/api/v1/verify", data=text, content_type="application/json").status_code == 200


def test_json_larger_than_max_json_bytes_is_413(client: Any) -> None:
    big = json.dumps({"code": "TS1:" + "A" * (1024 * 1024)})
    resp = client.post("/api/v1/verify", data=big, content_type="application/json")
    assert resp.status_code == 413 and _error(resp)["code"] == "payload_too_large"
    assert "max_json_bytes" in _error(resp)["message"]


def _escaped(obj: Any) -> str:
    """JSON text with every non-ASCII character escaped: a lone surrogate becomes ``\\ud800``."""
    return json.dumps(obj, ensure_ascii=True)


HOLDER = {"name": "江苏测试科技有限公司", "id_type": "001", "id": "91320100MA1TEST00X"}
SURROGATE_CASES = [
    (
        "/api/v1/licences",
        {"type": LICENCE, "department": DEPT, "holder": {**HOLDER, "name": "江苏" + SURROGATE}},
        "holder.name",
    ),
    (f"/api/v1/licences/{MISSING}/revoke", {"reason": "lost" + SURROGATE}, "reason"),
    (f"/api/v1/licences/{MISSING}/suspend", {"reason": SURROGATE}, "reason"),
    (f"/api/v1/licences/{MISSING}/codes", {"ttl": SURROGATE}, "ttl"),
    ("/api/v1/apikeys", {"role": "verifier", "label": "label" + SURROGATE}, "label"),
    ("/api/v1/departments", {"uscc": "11320000MB0000002E", "name": SURROGATE + "局"}, "name"),
    ("/api/v1/seals", {"department": DEPT, "name": "章\udfff"}, "name"),
    ("/api/v1/verify", {"code": "TS1:" + SURROGATE}, "code"),
    ("/api/v1/verify", {"code": "TS1:NOTACODE", "purpose": "check" + SURROGATE}, "purpose"),
    ("/api/v1/verify", {"code": "TS1:NOTACODE", "list": ["ok", {"deep": [SURROGATE]}]}, "list[1].deep[0]"),
    ("/api/v1/apikeys", {"role": "verifier", "label" + SURROGATE: "x"}, "label\\ud800"),
]


@pytest.mark.parametrize(("path", "body", "field"), SURROGATE_CASES, ids=[c[2] for c in SURROGATE_CASES])
def test_lone_surrogates_are_422_wherever_text_enters(
    client: Any, admin: str, path: str, body: Any, field: str
) -> None:
    resp = _post(client, path, _escaped(body), admin)
    assert resp.status_code == 422, resp.get_data()[:300]
    error = _error(resp)
    assert error["code"] == "invalid_text" and error["field"] == field, error


def test_surrogate_pairs_are_ordinary_text(client: Any, admin: str) -> None:
    resp = _post(client, "/api/v1/apikeys", _escaped({"role": "verifier", "label": "印章😀"}), admin)
    assert resp.status_code == 201, resp.get_data()[:300]


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        ('{"ttl": 1e400}', 422, "number_out_of_range"),
        ('{"ttl": 100000000000000000000}', 422, "number_out_of_range"),
        ('{"ttl": -9223372036854775809}', 422, "number_out_of_range"),
        ('{"ttl": ' + "1" * 5000 + "}", 422, "number_out_of_range"),
        ('{"ttl": NaN}', 400, "malformed_json"),
        ('{"ttl": -Infinity}', 400, "malformed_json"),
        (b'{"ttl": "\xed\xa0\x80"}', 400, "malformed_json"),  # a surrogate as raw bytes is no UTF-8
    ],
)
def test_numbers_beyond_64_bits_and_non_json_values_are_4xx(
    client: Any, admin: str, raw: str | bytes, status: int, code: str
) -> None:
    for path in (f"/api/v1/licences/{MISSING}/codes", "/api/v1/apikeys"):
        resp = _post(client, path, raw, admin)
        assert resp.status_code == status and _error(resp)["code"] == code, (path, resp.get_data()[:300])


def test_json_bounds_are_settings(service: Any, admin: str) -> None:
    from dataclasses import replace

    server = replace(service.config.server, max_json_depth=2, max_json_bytes=64)
    app = create_app(service=replace(service, config=replace(service.config, server=server)))
    client = app.test_client()
    resp = client.post("/api/v1/verify", data='{"code": "TS1:X", "x": [[1]]}', content_type="application/json")
    assert resp.status_code == 400 and "2 levels" in _error(resp)["message"]
    resp = client.post("/api/v1/verify", data=json.dumps({"code": "TS1:" + "A" * 64}), content_type="application/json")
    assert resp.status_code == 413
