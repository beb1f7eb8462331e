"""What issuing a licence builds on: the checked request, the outcome, the signed metadata.

Both the one-at-a-time service (:mod:`trustsvc.licences.service`) and the group commit
(:mod:`trustsvc.licences.issuing`) use these; they live here so neither imports the other back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ..formats.canonical import canonical_json
from ..sealing import default_seal
from ..storage.models import Department, LicenceRecord, SealRecord
from ..times import CHINA
from .catalogue import LicenceType

__all__ = ["MAX_SEQUENCE", "IssueOutcome", "build_metadata"]

MAX_SEQUENCE = 9_999_999


@dataclass(frozen=True)
class IssueOutcome:
    record: LicenceRecord
    replayed: bool
    """True when an earlier request with the same idempotency key and body issued it."""


@dataclass(frozen=True)
class _Checked:
    type: LicenceType
    holder_name: str
    holder_id_type: str
    holder_id: str
    fields: dict[str, Any]
    valid_from: dt.date | None
    valid_until: dt.date | None


def build_metadata(
    *,
    ltype: LicenceType,
    identifier: str,
    dept: Department,
    issued_at: dt.datetime,
    holder_name: str,
    holder_id_type: str,
    holder_id: str,
    fields: Mapping[str, Any],
    valid_from: dt.date,
    valid_until: dt.date | None,
) -> bytes:
    """Canonical GB/T 36903 metadata: JSON, sorted keys, UTF-8, no spaces."""
    meta: dict[str, Any] = {
        "ZZMC": ltype.name,
        "ZZLXDM": ltype.code,
        "ZZBS": identifier,
        "ZZBFJG": dept.name,
        "ZZBFJGDM": dept.uscc,
        "ZZBFRQ": issued_at.astimezone(CHINA).date().isoformat(),
        "CZZT": holder_name,
        "CZZTDM": holder_id,
        "CZZTDMLX": holder_id_type,
        "ZZYXQQSRQ": valid_from.isoformat(),
        "ZZYXQJZRQ": valid_until.isoformat() if valid_until else "长期",
    }
    for spec in ltype.fields:
        if spec.name in fields:
            meta[spec.metadata_code] = fields[spec.name]
    return canonical_json(meta)


def _current_seal(session: Session, dept: Department, now: dt.datetime) -> SealRecord:
    return default_seal(session, dept, now)  # the chosen one: a new seal never takes over silently
