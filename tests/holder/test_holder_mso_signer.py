"""An MSO is signed only with a signer that may sign: the department's signer certificate is
picked through the one check (``trustsvc.signing_keys``), so a revoked, expired or
not-yet-valid signer, or one under a revoked or expired CA, is refused with a 409 naming the
problem, and no MSO is kept. Issuance signs the MSO at once; these tests drop the kept one so
the next use (a presentation, as for an imported licence) has to sign a new one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from holder_helpers import DEPT, HOLDER, bearer
from sqlalchemy import delete, func, select

from trustsvc.holder.models import LicenceMsoRecord
from trustsvc.holder.mso import make_mso_in_session
from trustsvc.licences.service import find_licence
from trustsvc.signing_keys import SignerUnusableError
from trustsvc.storage.models import CertificateRecord, utcnow


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite only: the check reads the certificate records the same way on every backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def _break(service: Any, slug: str, problem: str) -> None:
    now = utcnow()
    values: dict[str, Any] = {
        "revoked": {"status": "revoked", "revoked_at": now, "revocation_reason": "key_compromise"},
        "expired": {"not_after": now - dt.timedelta(days=1)},
        "not_yet_valid": {"not_before": now + dt.timedelta(days=1)},
    }[problem]
    with service.db.transaction() as s:
        row = s.execute(select(CertificateRecord).where(CertificateRecord.slug == slug)).scalar_one()
        for name, value in values.items():
            setattr(row, name, value)


def _drop_kept_msos(service: Any) -> None:
    with service.db.transaction() as s:
        s.execute(delete(LicenceMsoRecord))


def _kept_msos(service: Any) -> int:
    with service.db.reader() as s:
        return int(s.execute(select(func.count()).select_from(LicenceMsoRecord)).scalar_one())


@pytest.mark.parametrize(
    ("slug", "problem", "code"),
    [
        (f"{DEPT}/signer", "revoked", "signer_certificate_revoked"),
        (f"{DEPT}/signer", "expired", "signer_certificate_expired"),
        (f"{DEPT}/signer", "not_yet_valid", "signer_certificate_not_yet_valid"),
        (DEPT, "revoked", "signer_issuer_revoked"),  # the department's CA
        (DEPT, "expired", "signer_issuer_expired"),
    ],
)
def test_an_mso_is_not_signed_with_a_signer_that_may_not_sign(service, licences, slug, problem, code) -> None:
    _drop_kept_msos(service)
    _break(service, slug, problem)
    with pytest.raises(SignerUnusableError) as caught, service.db.transaction() as s:
        make_mso_in_session(service, s, find_licence(s, licences.business))
    assert caught.value.code == code, caught.value.message
    assert "MSO" in caught.value.message
    assert _kept_msos(service) == 0


def test_a_presentation_needing_a_new_mso_is_refused_with_409(service, licences, client, keys) -> None:
    _drop_kept_msos(service)
    _break(service, f"{DEPT}/signer", "revoked")
    resp = client.post(
        "/api/v1/holder/presentations",
        headers=bearer(keys["wallet"]),
        json={
            "holder": HOLDER,
            "purpose": "开户核验",
            "ttl": 300,
            "licences": [{"id": licences.business, "fields": ["name"]}],
        },
    )
    assert resp.status_code == 409, resp.get_json()
    assert resp.get_json()["error"]["code"] == "signer_certificate_revoked"
    assert _kept_msos(service) == 0
