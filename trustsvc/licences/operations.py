"""The licence operations every front door calls: issue, change and renew, each with its file.

The API, the command line and the console parse their input, call one of these with an explicit
actor (a :class:`~trustsvc.apikeys.Principal`, or a named :class:`~trustsvc.apikeys.SystemActor`),
and present the :class:`Issued` result. A new licence version gets its sealed PDF right away, in a
transaction of its own: when that fails the licence still stands, the failure is logged and
returned, and the file is made on its first download instead.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..apikeys import Actor
from ..context import TrustService
from ..storage.models import LicenceRecord
from .files import ensure_licence_file
from .service import LicenceRequest, change_licence, issue_licence_outcome, renew_licence
from .states import LicenceState

__all__ = ["Issued", "issue", "change", "renew"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Issued:
    """A licence version as issued, and what became of its file."""

    record: LicenceRecord
    replayed: bool = False
    """An earlier request with the same idempotency key and body issued it."""
    file_error: Exception | None = None
    """Why its PDF was not made now (it is made on first download); None when it was."""


def _with_file(service: TrustService, record: LicenceRecord, actor: Actor, replayed: bool = False) -> Issued:
    if record.status != LicenceState.ACTIVE:  # a replay of a licence revoked or superseded since: no new file
        return Issued(record, replayed)
    try:
        ensure_licence_file(service, record.identifier, actor=actor.actor)
    except Exception as exc:
        log.exception("licence %s was issued but its PDF was not made", record.identifier)
        return Issued(record, replayed, exc)
    return Issued(record, replayed)


def issue(
    service: TrustService,
    request: LicenceRequest,
    *,
    actor: Actor,
    department_uscc: str | None = None,
    idempotency_key: str | None = None,
) -> Issued:
    """Issue a licence (:func:`~trustsvc.licences.service.issue_licence_outcome`) and make its file."""
    outcome = issue_licence_outcome(
        service,
        request,
        principal_or_actor=actor,
        department_uscc=department_uscc,
        idempotency_key=idempotency_key,
    )
    return _with_file(service, outcome.record, actor, outcome.replayed)


def change(
    service: TrustService,
    identifier: str,
    *,
    actor: Actor,
    fields: Mapping[str, Any] | None = None,
    holder_name: str | None = None,
) -> Issued:
    """变更: version +1 with changed fields or holder name, and its file."""
    record = change_licence(service, identifier, principal_or_actor=actor, fields=fields, holder_name=holder_name)
    return _with_file(service, record, actor)


def renew(
    service: TrustService,
    identifier: str,
    *,
    actor: Actor,
    valid_until: dt.date | None,
    valid_from: dt.date | None = None,
) -> Issued:
    """延续: version +1 with a new validity period, and its file."""
    record = renew_licence(
        service, identifier, principal_or_actor=actor, valid_until=valid_until, valid_from=valid_from
    )
    return _with_file(service, record, actor)
