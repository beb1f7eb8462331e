"""Rolling the region's trust-list signer and code signer without peers re-pinning.

* **Trust-list signer**, in two steps so peers see the new key before it signs:
  ``trustsvc trust rotate-signer`` first makes a new key and certificate (services CA,
  trust-list-signing EKU) and *announces* it (slug ``trust-list-signer-next``, listed with role
  ``next`` in the list the current signer signs). Run again once peers have refreshed (at
  least one ``[trust] refresh_interval``): the announced signer becomes current and signs; the
  old one is retired. A peer accepts a list from a new signer only when the list it holds
  announced it (:func:`trustsvc.federation.trust_lists.verify_trust_list`).
* **Code signer**, in one step: ``trustsvc code rotate-signer`` makes a new key and
  certificate that signs every new code at once; the old certificate is retired but stays in
  the published list (state ``retired``) for ``[trust] code_signer_overlap`` and as long as
  codes it signed are unexpired, so codes already printed keep verifying everywhere. Peers
  learn the new signer at their next refresh.

Each step is one transaction (certificate rows, slugs, audit events), then a new trust list is
signed so peers can fetch the change right away.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca import SubjectSpec

from ..audit import AuditEvent, record
from ..context import TrustService
from ..errors import NotInitialisedError
from ..pki import _algorithm, _certify, _ensure_key, get_ca, get_region
from ..storage.models import CertificateRecord, RetiredSignerRecord, utcnow
from .trust_lists import NEXT_TRUST_LIST_SIGNER_SLUG, TRUST_LIST_SIGNER_SLUG, current_trust_list

__all__ = ["RotationResult", "rotate_trust_list_signer", "rotate_code_signer", "CODE_SIGNER_SLUG"]

CODE_SIGNER_SLUG = "code-signer"


@dataclass(frozen=True)
class RotationResult:
    step: str
    """``announced`` (a next trust-list signer was listed), ``activated`` (it signs now) or
    ``rotated`` (a new code signer signs now)."""
    current_sha256: str
    retired_sha256: str | None
    announced_sha256: str | None
    trust_list_sequence: int

    def as_dict(self) -> dict[str, object]:
        return {
            "step": self.step,
            "current": self.current_sha256,
            "retired": self.retired_sha256,
            "announced": self.announced_sha256,
            "trust_list_sequence": self.trust_list_sequence,
        }


def _slug(session: Session, slug: str) -> CertificateRecord | None:
    return session.execute(select(CertificateRecord).where(CertificateRecord.slug == slug)).scalar_one_or_none()


def _retire(session: Session, row: CertificateRecord, kind: str, now: dt.datetime, actor: str) -> None:
    row.slug = f"{row.slug}@{row.serial_hex}"
    session.add(RetiredSignerRecord(certificate_id=row.id, kind=kind, retired_at=now))
    session.flush()
    record(
        session,
        AuditEvent(
            actor=actor,
            action="certificate.retire",
            object_type="certificate",
            object_id=row.slug,
            details={"kind": kind, "sha256": row.sha256},
        ),
    )


def _new_signer(
    service: TrustService, session: Session, *, slug: str, profile: str, label: str, cn: str, actor: str
) -> CertificateRecord:
    region = get_region(session)
    key_ref = _ensure_key(
        service.keystore, session, f"r{region.code}-{label}-{secrets.token_hex(4)}", actor, _algorithm(service)
    )  # the region's configured key algorithm, like `init`
    return _certify(
        service,
        session,
        slug=slug,
        profile=profile,
        key_ref=key_ref,
        issuer=get_ca(session, "services"),
        actor=actor,
        subject=SubjectSpec(common_name=f"{region.name}{cn}", organization=region.name),
    )


def rotate_trust_list_signer(service: TrustService, *, actor: str, now: dt.datetime | None = None) -> RotationResult:
    """Announce a next trust-list signer, or (when one is announced) make it current."""
    now = now or utcnow()
    with service.db.transaction() as session:
        current = _slug(session, TRUST_LIST_SIGNER_SLUG)
        if current is None:
            raise NotInitialisedError("this region has no trust-list signer; run `trustsvc init`")
        announced = _slug(session, NEXT_TRUST_LIST_SIGNER_SLUG)
        if announced is None:
            row = _new_signer(
                service,
                session,
                slug=NEXT_TRUST_LIST_SIGNER_SLUG,
                profile="trust_list_signer",
                label="trust-list-signer",
                cn="信任列表签名",
                actor=actor,
            )
            step, current_sha, retired_sha, next_sha = "announced", current.sha256, None, row.sha256
        else:
            retired_sha = current.sha256
            _retire(session, current, "trust_list_signer", now, actor)
            announced.slug = TRUST_LIST_SIGNER_SLUG
            session.flush()
            step, current_sha, next_sha = "activated", announced.sha256, None
        record(
            session,
            AuditEvent(
                actor=actor,
                action=f"trust.signer_{step}",
                object_type="certificate",
                object_id=TRUST_LIST_SIGNER_SLUG,
                details={"current": current_sha, "retired": retired_sha, "announced": next_sha},
            ),
        )
    published = current_trust_list(service)
    return RotationResult(step, current_sha, retired_sha, next_sha, published.sequence)


def rotate_code_signer(service: TrustService, *, actor: str, now: dt.datetime | None = None) -> RotationResult:
    """A new code signer signs from now on; the old one is retired (still listed, see above)."""
    now = now or utcnow()
    with service.db.transaction() as session:
        current = _slug(session, CODE_SIGNER_SLUG)
        if current is None:
            raise NotInitialisedError("this region has no code signer; run `trustsvc init`")
        retired_sha = current.sha256
        _retire(session, current, "code_signer", now, actor)
        row = _new_signer(
            service,
            session,
            slug=CODE_SIGNER_SLUG,
            profile="code_signer",
            label="code-signer",
            cn="服务码签名",
            actor=actor,
        )
        record(
            session,
            AuditEvent(
                actor=actor,
                action="code.signer_rotated",
                object_type="certificate",
                object_id=CODE_SIGNER_SLUG,
                details={"current": row.sha256, "retired": retired_sha},
            ),
        )
        current_sha = row.sha256
    published = current_trust_list(service)
    return RotationResult("rotated", current_sha, retired_sha, None, published.sequence)
