"""Licence fixtures: one key per role (the seal, app and client are tests/conftest.py's)."""

from __future__ import annotations

import pytest
from licence_helpers import DEPT

from trustsvc.licences.catalogue import BUSINESS_LICENCE


@pytest.fixture
def keys(make_key) -> dict[str, str]:
    out = {role: make_key(role) for role in ("admin", "verifier", "peer")}
    out["issuer"] = make_key("issuer", department=DEPT, types=[BUSINESS_LICENCE.code])
    return out
