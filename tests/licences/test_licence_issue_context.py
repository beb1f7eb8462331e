"""Issuance reuses a department's checked seal, certificates and key between requests, but never
past a change: a suspended seal is refused at once, a new default seal is used at once."""

from __future__ import annotations

import pytest
from licence_helpers import DEPT, business_body

from trustsvc.apikeys import SystemActor
from trustsvc.errors import ConflictError
from trustsvc.licences.service import issue_licence, request_from_json
from trustsvc.seal_lifecycle import reinstate_seal, set_default_seal, suspend_seal
from trustsvc.sealing import SealRequest, make_department_seal


def _issue(service):
    return issue_licence(
        service, request_from_json(business_body()), principal_or_actor=SystemActor("cli:test"), department_uscc=DEPT
    )


def test_a_suspended_seal_is_refused_by_the_next_issuance(service, seal) -> None:
    assert _issue(service).seal_esid == seal.esid  # the context is cached now
    suspend_seal(service, seal.esid, reason="drill", actor="test")
    with pytest.raises(ConflictError) as err:
        _issue(service)
    assert err.value.code == "seal_suspended"
    reinstate_seal(service, seal.esid, reason="drill over", actor="test")
    assert _issue(service).seal_esid == seal.esid


def test_a_new_default_seal_is_used_by_the_next_issuance(service, seal) -> None:
    assert _issue(service).seal_esid == seal.esid
    other = make_department_seal(
        service, SealRequest(DEPT, "江苏省市场监督管理局", center_text="证照专用章二"), actor="test"
    )
    set_default_seal(service, DEPT, other.esid, actor="test")
    assert _issue(service).seal_esid == other.esid
