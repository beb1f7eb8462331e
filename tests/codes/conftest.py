"""Service-code fixtures: a licence and one key per role (seal, app and client: tests/conftest.py)."""

from __future__ import annotations

import pytest
from code_helpers import DEPT, business_body

from trustsvc.apikeys import SystemActor
from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.licences.service import issue_licence, request_from_json


@pytest.fixture
def licence(service, seal):
    """An active business licence without an end date (its identifier)."""
    row = issue_licence(
        service,
        request_from_json(business_body()),
        principal_or_actor=SystemActor("test"),
        department_uscc=DEPT,
        timestamp=False,
    )
    return row.identifier


@pytest.fixture
def keys(make_key) -> dict[str, str]:
    out = {role: make_key(role) for role in ("admin", "verifier", "peer")}
    out["issuer"] = make_key("issuer", department=DEPT, types=[BUSINESS_LICENCE.code])
    return out
