"""Never sign with what is not valid: every signing path refuses a revoked, expired or
not-yet-valid certificate (or one under such a CA), and a seal that is not active, with a 409
and a code naming the problem; nothing is stored when it refuses.

Expiry and not-yet-valid are set on the certificate records, which is what the one guard
(``trustsvc.signing_keys``) reads when a key is picked for signing.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from licence_bodies import business_body
from sqlalchemy import func, select

from ca.ocsp_client import build_ocsp_request, verify_ocsp_response
from ca.tsa import build_request
from trustsvc.apikeys import SystemActor
from trustsvc.certificates import revoke_certificate
from trustsvc.codes.service import make_dynamic_code, static_code
from trustsvc.errors import ConflictError
from trustsvc.federation.trust_lists import current_trust_list
from trustsvc.licences.files import ensure_licence_file
from trustsvc.licences.service import issue_licence, request_from_json, revoke_licence
from trustsvc.ocsp import respond_ocsp
from trustsvc.seal_lifecycle import revoke_seal, suspend_seal
from trustsvc.sealing import SealRequest, apply_seal, make_department_seal
from trustsvc.signing_keys import SignerUnusableError
from trustsvc.status_lists import current_status_list
from trustsvc.storage.models import CertificateRecord, LicenceRecord, utcnow

DEPT = "11320000MB0000001G"
DOC = b"a document"


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite only: the guard reads the records the same way on every backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def http(client, seal, make_key) -> Iterator[tuple[Any, dict[str, str]]]:
    yield client, {"Authorization": f"Bearer {make_key('admin')}"}


def _licence(service) -> str:
    return issue_licence(
        service,
        request_from_json(business_body()),
        principal_or_actor=SystemActor("test"),
        department_uscc=DEPT,
        timestamp=False,
    ).identifier


def _set(service, slug: str, **values: Any) -> None:
    with service.db.transaction() as s:
        row = s.execute(select(CertificateRecord).where(CertificateRecord.slug == slug)).scalar_one()
        for name, value in values.items():
            setattr(row, name, value)


def _break(service, slug: str, problem: str) -> None:
    now = utcnow()
    if problem == "revoked":  # the record alone (``cert revoke`` also revokes the seals bound to it)
        _set(service, slug, status="revoked", revoked_at=now, revocation_reason="key_compromise")
    elif problem == "expired":
        _set(service, slug, not_after=now - dt.timedelta(days=1))
    elif problem == "not_yet_valid":
        _set(service, slug, not_before=now + dt.timedelta(days=1))
    else:
        raise AssertionError(problem)


def _refused(code: str, run: Any) -> ConflictError:
    with pytest.raises(ConflictError) as caught:
        run()
    assert caught.value.code == code, caught.value.message
    return caught.value


def _licences(service) -> int:
    with service.db.reader() as s:
        return s.execute(select(func.count()).select_from(LicenceRecord)).scalar_one()


@pytest.mark.parametrize("problem", ["revoked", "expired", "not_yet_valid"])
def test_seal_application_refuses_a_signer_that_is_not_valid(service, seal, problem) -> None:
    _break(service, f"{DEPT}/signer", problem)
    err = _refused(f"signer_certificate_{problem}", lambda: apply_seal(service, seal.esid, DOC, actor="test"))
    assert isinstance(err, SignerUnusableError) and f"{DEPT}/signer" in err.message


@pytest.mark.parametrize("problem", ["revoked", "expired"])
def test_nothing_is_signed_under_a_ca_that_is_not_valid(service, seal, problem) -> None:
    _break(service, DEPT, problem)
    _refused(f"signer_issuer_{problem}", lambda: apply_seal(service, seal.esid, DOC, actor="test", timestamp=False))


def test_a_seal_that_is_not_active_is_not_applied(service, seal) -> None:
    suspend_seal(service, seal.esid, reason="挂失", actor="test")
    _refused("seal_suspended", lambda: apply_seal(service, seal.esid, DOC, actor="test", timestamp=False))
    revoke_seal(service, seal.esid, reason="注销", actor="test")
    _refused("seal_revoked", lambda: apply_seal(service, seal.esid, DOC, actor="test", timestamp=False))


def test_seal_making_refuses_a_maker_or_signer_that_is_not_valid(service) -> None:
    _break(service, f"{DEPT}/seal-maker", "expired")
    _refused(
        "signer_certificate_expired",
        lambda: make_department_seal(service, SealRequest(DEPT, "江苏省市场监督管理局"), actor="test"),
    )


def test_licence_issuance_refuses_and_stores_nothing(service, seal, http) -> None:
    client, admin = http
    _break(service, f"{DEPT}/signer", "revoked")
    before = _licences(service)
    _refused("signer_certificate_revoked", lambda: _licence(service))
    r = client.post("/api/v1/licences", json={**business_body(), "department": DEPT}, headers=admin)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "signer_certificate_revoked", r.get_json()
    assert _licences(service) == before


def test_licence_issuance_refuses_a_default_seal_that_is_not_active(service, seal, http) -> None:
    client, admin = http
    suspend_seal(service, seal.esid, reason="挂失", actor="test")
    r = client.post("/api/v1/licences", json={**business_body(), "department": DEPT}, headers=admin)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "seal_suspended", r.get_json()
    assert "default seal" in r.get_json()["error"]["message"]


def test_licence_file_refuses(service, seal, http) -> None:
    client, admin = http
    ident = _licence(service)  # issued without its file
    _break(service, f"{DEPT}/signer", "revoked")
    _refused("signer_certificate_revoked", lambda: ensure_licence_file(service, ident))
    r = client.get(f"/api/v1/licences/{ident}/file", headers=admin)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "signer_certificate_revoked"


def test_service_codes_refuse(service, seal, http) -> None:
    client, admin = http
    ident = _licence(service)
    _break(service, "code-signer", "expired")
    _refused("signer_certificate_expired", lambda: static_code(service, ident, principal_or_actor=SystemActor("test")))
    _refused(
        "signer_certificate_expired", lambda: make_dynamic_code(service, ident, principal_or_actor=SystemActor("test"))
    )
    r = client.post(f"/api/v1/licences/{ident}/codes", json={}, headers=admin)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "signer_certificate_expired"


def test_status_lists_refuse_and_the_status_change_is_undone(service, seal) -> None:
    ident = _licence(service)
    _break(service, "status-list-signer", "revoked")
    _refused(
        "signer_certificate_revoked",
        lambda: revoke_licence(service, ident, principal_or_actor=SystemActor("test"), reason="x"),
    )
    with service.db.reader() as s:
        assert s.execute(select(LicenceRecord.status).where(LicenceRecord.identifier == ident)).scalar_one() == "active"


def test_trust_lists_refuse(service) -> None:
    answer = revoke_certificate(service, "trust-list-signer", "keyCompromise", actor="test")
    assert answer["trust_list"]["published"] is False
    assert answer["trust_list"]["code"] == "signer_certificate_revoked"
    _refused("signer_certificate_revoked", lambda: current_trust_list(service, now=utcnow() + dt.timedelta(days=2)))


def test_status_list_signing_by_request_refuses(service, seal) -> None:
    _break(service, "status-list-signer", "expired")
    _refused(
        "signer_certificate_expired", lambda: current_status_list(service, DEPT, now=utcnow() + dt.timedelta(days=30))
    )


def test_time_stamps_refuse(service, seal, http) -> None:
    client, _ = http
    _break(service, "tsa", "revoked")
    r = client.post(
        "/api/v1/tsa",
        data=build_request(b"\x01" * 32, hash_algorithm="sm3"),
        content_type="application/timestamp-query",
    )
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "signer_certificate_revoked"
    _refused("signer_certificate_revoked", lambda: apply_seal(service, seal.esid, DOC, actor="test"))


def test_ocsp_never_signs_with_a_revoked_responder(service, http) -> None:
    client, _ = http
    with service.db.reader() as s:
        certs = {c.slug: c.der for c in s.execute(select(CertificateRecord)).scalars()}
    revoke_certificate(service, "ocsp", "keyCompromise", actor="test")
    # the delegated responder is revoked: its CA answers itself
    answer = verify_ocsp_response(
        respond_ocsp(service, build_ocsp_request(certs["tsa"], certs["services"])),
        issuer_cert=certs["services"],
        cert=certs["tsa"],
    )
    assert answer.valid and answer.responder_cert_der == certs["services"]
    # a department CA that may not sign answers nothing
    _set(service, DEPT, status="revoked", revoked_at=utcnow())
    request = build_ocsp_request(certs[f"{DEPT}/signer"], certs[DEPT])
    _refused("signer_certificate_revoked", lambda: respond_ocsp(service, request))
    r = client.post("/api/v1/ocsp", data=request, content_type="application/ocsp-request")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "signer_certificate_revoked"
    encoded = base64.b64encode(request).decode()
    assert client.get(f"/api/v1/ocsp/{encoded}").status_code == 409


def test_certificates_are_not_issued_under_a_ca_that_is_not_valid(service) -> None:
    from trustsvc.certificates import renew_certificate

    _break(service, DEPT, "expired")
    _refused(
        "signer_certificate_expired", lambda: renew_certificate(service, f"{DEPT}/signer", new_key=False, actor="test")
    )
