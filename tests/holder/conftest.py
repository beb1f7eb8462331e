"""Holder fixtures: two departments with seals, three licences of one enterprise, an app and
one key per role (wallet included)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from holder_helpers import DEPT, OTHER_DEPT, business_body, food_body

from trustsvc import pki
from trustsvc.apikeys import SystemActor, create_api_key
from trustsvc.licences.service import issue_licence, request_from_json
from trustsvc.sealing import SealRequest, make_department_seal


@dataclass(frozen=True)
class Licences:
    business: str
    food: str
    other_food: str
    """Issued by the other department."""

    @property
    def all(self) -> tuple[str, str, str]:
        return (self.business, self.food, self.other_food)


@pytest.fixture
def licences(service) -> Licences:
    pki.add_department(service, OTHER_DEPT, "南京市市场监督管理局", actor="test")
    for uscc, name in ((DEPT, "江苏省市场监督管理局"), (OTHER_DEPT, "南京市市场监督管理局")):
        make_department_seal(service, SealRequest(uscc, name, center_text="证照专用章"), actor="test")

    def issue(body, dept):
        return issue_licence(
            service,
            request_from_json(body),
            principal_or_actor=SystemActor("test"),
            department_uscc=dept,
            timestamp=False,
        ).identifier

    return Licences(
        business=issue(business_body(), DEPT),
        food=issue(food_body(), DEPT),
        other_food=issue(food_body(permit="JY23201040000099"), OTHER_DEPT),
    )


@pytest.fixture
def keys(service) -> dict[str, str]:
    out = {}
    with service.db.transaction() as s:
        for role in ("admin", "verifier", "peer", "wallet"):
            created = create_api_key(s, role=role, actor="test")
            out[role] = created.token
            out[f"{role}_actor"] = created.principal.actor
        other = create_api_key(s, role="verifier", actor="test")
        out["verifier2"], out["verifier2_actor"] = other.token, other.principal.actor
    return out
