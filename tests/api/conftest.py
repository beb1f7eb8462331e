from __future__ import annotations

import pytest


@pytest.fixture
def keys(make_key) -> dict[str, str]:
    """One key per role (issuer scoped to the demo department and the demo 营业执照 type)."""
    out = {role: make_key(role) for role in ("admin", "verifier", "peer")}
    out["issuer"] = make_key("issuer", department="11320000MB0000001G", types=["11100000MB0143028R001"])
    out["seal_manager"] = make_key("seal_manager", department="11320000MB0000001G")
    return out
