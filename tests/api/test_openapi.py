"""The OpenAPI document says what the rate limits and the signing-key check answer: every
operation but OCSP documents 429 (the error shape and Retry-After), OCSP documents its
tryLater, every operation that signs documents the signing-key refusals (409), and the shared
error codes it lists are codes the service really uses. (That the document covers exactly the
served routes: tests/api/test_api.py; README's API table: tests/test_readme_tables.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.openapi import spec
from api.openapi_parts import ERROR_CODES

REPO = Path(__file__).resolve().parents[2]
OCSP = {"/api/v1/ocsp", "/api/v1/ocsp/{encoded}"}
SIGNING = [
    ("/api/v1/departments", "post"),
    ("/api/v1/seals", "post"),
    ("/api/v1/seals/{esid}/sign", "post"),
    ("/api/v1/licences", "post"),
    ("/api/v1/licences/{identifier}/revoke", "post"),
    ("/api/v1/licences/{identifier}/suspend", "post"),
    ("/api/v1/licences/{identifier}/reinstate", "post"),
    ("/api/v1/licences/{identifier}/change", "post"),
    ("/api/v1/licences/{identifier}/renew", "post"),
    ("/api/v1/licences/{identifier}/file", "get"),
    ("/api/v1/licences/{identifier}/code", "get"),
    ("/api/v1/licences/{identifier}/codes", "post"),
    ("/api/v1/holder/presentations", "post"),
    ("/api/v1/holder/codes", "post"),
    ("/api/v1/certificates/{ident}/renew", "post"),
    ("/api/v1/departments/{uscc}/rekey", "post"),
    ("/api/v1/tsa", "post"),
    ("/api/v1/crl/{slug}", "get"),
    ("/api/v1/status/{issuer}", "get"),
    ("/api/v1/trust-list", "get"),
]


def _operations() -> list[tuple[str, str, dict]]:
    return [(path, method, op) for path, ops in spec()["paths"].items() for method, op in ops.items()]


def test_every_operation_but_ocsp_documents_429_with_the_error_shape_and_retry_after() -> None:
    for path, method, op in _operations():
        answer = op["responses"].get("429")
        if path in OCSP:
            assert answer is None, (method, path)
            continue
        assert answer is not None, (method, path)
        assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert answer["headers"]["Retry-After"]["schema"]["type"] == "integer", (method, path)
        assert "rate_limited" in answer["description"], (method, path)


def test_peer_operations_keep_their_own_429_code() -> None:
    doc = spec()["paths"]
    for path in ("/api/v1/trust/peers", "/api/v1/trust/refresh"):
        assert "peer_operations_busy" in doc[path]["post"]["responses"]["429"]["description"]
    assert "peer_fetch_timeout" in doc["/api/v1/trust/peers"]["post"]["responses"]["504"]["description"]


def test_ocsp_documents_try_later_as_an_ocsp_answer() -> None:
    doc = spec()["paths"]
    for path, method in (("/api/v1/ocsp", "post"), ("/api/v1/ocsp/{encoded}", "get")):
        ok = doc[path][method]["responses"]["200"]
        assert "tryLater" in ok["description"] and "Retry-After" in ok["headers"]
        assert "application/ocsp-response" in ok["content"]


@pytest.mark.parametrize(("path", "method"), SIGNING, ids=[f"{m} {p}" for p, m in SIGNING])
def test_operations_that_sign_document_the_signing_key_refusals(path: str, method: str) -> None:
    conflict = spec()["paths"][path][method]["responses"]["409"]["description"]
    assert "signer_certificate_revoked" in conflict and "signer_issuer_expired" in conflict, conflict


def test_keyed_operations_document_401() -> None:
    for path, method, op in _operations():
        if op.get("security"):
            assert "401" in op["responses"], (method, path)


def test_shared_error_codes_are_listed_and_each_is_really_used() -> None:
    listed = spec()["components"]["schemas"]["Error"]["x-error-codes"]
    for code in (
        "rate_limited",
        "peer_operations_busy",
        "peer_fetch_timeout",
        "presentation_too_large",
        "malformed_json",
        "json_too_deep",
        "invalid_text",
        "number_out_of_range",
        "payload_too_large",
        "signer_certificate_revoked",
        "signer_certificate_expired",
        "signer_certificate_not_yet_valid",
        "signer_issuer_revoked",
        "signer_issuer_expired",
    ):
        assert code in listed, code
    assert {c: (v["status"], v["description"]) for c, v in listed.items()} == ERROR_CODES
    source = "\n".join(
        p.read_text(encoding="utf-8")
        for root in ("api", "trustsvc", "ca")
        for p in (REPO / root).rglob("*.py")
        if p.name != "openapi_parts.py"
    )
    for code in listed:
        # composed: signer_certificate_<problem>, signer_issuer_<problem> (signing_keys.py),
        # seal_<status> (sealing.py)
        composed = re.match(r"(signer_certificate|signer_issuer|seal)_(revoked|expired|not_yet_valid|suspended)$", code)
        if composed:
            assert f'f"{composed.group(1)}_{{' in source, code
            continue
        assert f'"{code}"' in source, f"{code} is listed but no code raises it"
