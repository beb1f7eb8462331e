from __future__ import annotations

import pytest

from api import create_app
from trustsvc.apikeys import create_api_key


@pytest.fixture
def app(service):
    return create_app(service=service)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def keys(service) -> dict[str, str]:
    """One key per role (issuer scoped to the demo department and the demo 营业执照 type)."""
    out = {}
    with service.db.transaction() as s:
        for role in ("admin", "verifier", "peer"):
            out[role] = create_api_key(s, role=role, actor="test").token
        out["issuer"] = create_api_key(
            s,
            role="issuer",
            actor="test",
            department_uscc="11320000MB0000001G",
            licence_types=["11100000MB0143028R001"],
        ).token
        out["seal_manager"] = create_api_key(
            s, role="seal_manager", actor="test", department_uscc="11320000MB0000001G"
        ).token
    return out
