"""trustsvc.licences.operations: the one issue / change / renew every front door calls.

Each makes the new version's sealed PDF right away; when that fails the licence still stands and
the failure comes back in the result (the file is then made on first download).
"""

from __future__ import annotations

import pytest
from licence_helpers import DEPT, business_body
from sqlalchemy import select

from trustsvc.apikeys import SystemActor
from trustsvc.licences import operations
from trustsvc.licences.service import request_from_json
from trustsvc.storage.models import LicenceFileRecord, LicenceRecord

ACTOR = SystemActor("test:operations")


def _files(service, identifier: str) -> int:
    with service.db.reader() as s:
        licence_id = s.execute(select(LicenceRecord.id).where(LicenceRecord.identifier == identifier)).scalar_one()
        return len(s.execute(select(LicenceFileRecord).where(LicenceFileRecord.licence_id == licence_id)).all())


def test_issue_makes_the_file_and_a_replay_says_so(service, seal) -> None:
    issued = operations.issue(
        service, request_from_json(business_body()), actor=ACTOR, department_uscc=DEPT, idempotency_key="op-1"
    )
    assert issued.file_error is None and not issued.replayed
    assert _files(service, issued.record.identifier) == 1
    again = operations.issue(
        service, request_from_json(business_body()), actor=ACTOR, department_uscc=DEPT, idempotency_key="op-1"
    )
    assert again.replayed and again.record.identifier == issued.record.identifier


def test_change_and_renew_are_new_versions_with_their_files(service, seal) -> None:
    first = operations.issue(service, request_from_json(business_body()), actor=ACTOR, department_uscc=DEPT)
    changed = operations.change(service, first.record.identifier, actor=ACTOR, holder_name="南京新名称有限公司")
    assert changed.record.version == first.record.version + 1 and changed.file_error is None
    assert _files(service, changed.record.identifier) >= 1
    renewed = operations.renew(service, changed.record.identifier, actor=ACTOR, valid_until=None)
    assert renewed.record.version == changed.record.version + 1 and renewed.file_error is None


def test_a_file_failure_leaves_the_licence_issued(service, seal, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("renderer down")

    monkeypatch.setattr(operations, "ensure_licence_file", broken)
    issued = operations.issue(service, request_from_json(business_body()), actor=ACTOR, department_uscc=DEPT)
    assert isinstance(issued.file_error, RuntimeError)
    assert issued.record.status == "active"
    assert _files(service, issued.record.identifier) == 0
