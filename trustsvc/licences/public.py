"""The public minimal view of a licence (``/licences/<identifier>``, no login).

Built here rather than in the template so that the page can only ever receive masked data:
the view carries the type, identifier, issuer, status now, validity and the holder masked by
:mod:`.masking`, and no other field of the licence.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from ..context import TrustService
from ..errors import NotFoundError
from ..storage.models import LicenceRecord, Region
from .catalogue import find_type
from .identifier import parse_identifier
from .masking import mask_holder_id, mask_holder_name
from .service import HOLDER_ID_TYPES, china_today

__all__ = ["PublicLicenceView", "public_licence_view", "status_now"]


@dataclass(frozen=True)
class PublicLicenceView:
    identifier: str
    type_code: str
    type_name: str
    issuer_name: str
    issuer_uscc: str
    status: str
    """active, suspended, revoked, superseded or expired, as of today."""
    status_changed_at: dt.datetime | None
    superseded_by: str | None
    """The identifier of the version that replaced this one, when superseded."""
    valid_from: dt.date
    valid_until: dt.date | None
    """None: 长期 (no end)."""
    issued_at: dt.datetime
    version: int
    holder_name_masked: str
    holder_id_masked: str
    holder_id_type: str
    holder_id_type_name: str


def status_now(row: LicenceRecord, today: dt.date | None = None) -> str:
    """The stored status, with an active licence past its end date reported as expired."""
    today = today or china_today()
    if row.status == "active" and row.valid_until is not None and row.valid_until < today:
        return "expired"
    return row.status


def public_licence_view(service: TrustService, identifier: str) -> PublicLicenceView:
    """:raises InvalidInputError: the identifier is malformed (``invalid_identifier``,
    ``identifier_check_failed``). :raises NotFoundError: ``licence_not_found``."""
    text = parse_identifier(identifier).text
    with service.db.reader() as session:
        row = (
            session.execute(select(LicenceRecord).where(LicenceRecord.identifier == text)).unique().scalar_one_or_none()
        )
        if row is None:
            raise NotFoundError(f"no licence {text}", code="licence_not_found")
        successor = None
        if row.status == "superseded":
            successor = session.execute(
                select(LicenceRecord.identifier).where(LicenceRecord.supersedes_id == row.id)
            ).scalar_one_or_none()
        region = session.execute(select(Region)).scalars().first()
        region_code = region.code if region is not None else ""
        try:
            type_name = find_type(region_code, row.type_code).name
        except NotFoundError:
            type_name = row.type_code
        return PublicLicenceView(
            identifier=row.identifier,
            type_code=row.type_code,
            type_name=type_name,
            issuer_name=row.department.name,
            issuer_uscc=row.department.uscc,
            status=status_now(row),
            status_changed_at=row.status_changed_at,
            superseded_by=successor,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            issued_at=row.issued_at,
            version=row.version,
            holder_name_masked=mask_holder_name(row.holder_name, row.holder_id_type),
            holder_id_masked=mask_holder_id(row.holder_id, row.holder_id_type),
            holder_id_type=row.holder_id_type,
            holder_id_type_name=HOLDER_ID_TYPES.get(row.holder_id_type, row.holder_id_type),
        )
