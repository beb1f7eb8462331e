"""Licence fixtures: the demo department's seal, an app and one key per role."""

from __future__ import annotations

import pytest
from licence_helpers import DEPT

from api import create_app
from trustsvc.apikeys import create_api_key
from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.sealing import SealRequest, make_department_seal


@pytest.fixture
def seal(service):
    return make_department_seal(
        service, SealRequest(DEPT, "江苏省市场监督管理局", center_text="证照专用章"), actor="test"
    )


@pytest.fixture
def client(service):
    return create_app(service=service).test_client()


@pytest.fixture
def keys(service) -> dict[str, str]:
    out = {}
    with service.db.transaction() as s:
        for role in ("admin", "verifier", "peer"):
            out[role] = create_api_key(s, role=role, actor="test").token
        out["issuer"] = create_api_key(
            s, role="issuer", actor="test", department_uscc=DEPT, licence_types=[BUSINESS_LICENCE.code]
        ).token
    return out
