"""Issuing licences through the service on SQLite and PostgreSQL: identifiers, serials, the
sealed metadata, idempotency, scope, lifecycle and audit."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from licence_helpers import COMPANY, DEPT, OTHER_DEPT, PERSON, business_body, food_body
from sqlalchemy import func, select

from api.shapes import licence_json
from trustsvc import pki
from trustsvc.apikeys import Principal, Role, SystemActor
from trustsvc.audit import verify_chain
from trustsvc.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from trustsvc.federation.local_trust import local_trust_context
from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.licences.identifier import parse_identifier
from trustsvc.licences.service import (
    canonical_metadata,
    change_licence,
    get_licence,
    issue_licence,
    issue_licence_outcome,
    reinstate_licence,
    renew_licence,
    request_from_json,
    revoke_licence,
    suspend_licence,
)
from trustsvc.storage.models import AuditEventRecord, LicenceRecord
from trustsvc.verify import verify_bytes

ISSUER = Principal("k1", Role.ISSUER, DEPT, (BUSINESS_LICENCE.code,))


def _count(service, model=LicenceRecord) -> int:
    with service.db.reader() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _actions(service, identifier: str) -> list[str]:
    """The licence's audit events, with the seal application over its metadata."""
    with service.db.reader() as s:
        rows = s.execute(select(AuditEventRecord).order_by(AuditEventRecord.seq)).scalars().all()
    return [
        r.action
        for r in rows
        if r.object_id == identifier
        or (r.action == "seal.apply" and json.loads(r.details).get("property_info") == identifier)
    ]


def test_issued_licence_has_a_checked_identifier_and_year_serial(service, seal) -> None:
    row = issue_licence(service, request_from_json(business_body()), principal_or_actor=ISSUER)
    ident = parse_identifier(row.identifier)
    year = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).year
    assert (ident.type_code, ident.issuer_code, ident.version) == (BUSINESS_LICENCE.code, DEPT, 1)
    assert ident.serial == row.serial == f"{year}0000001"
    second = issue_licence(service, request_from_json(business_body()), principal_or_actor=ISSUER)
    assert second.serial == f"{year}0000002" and second.status_index == row.status_index + 1
    food = issue_licence(
        service, request_from_json(food_body()), principal_or_actor=SystemActor("cli:test"), department_uscc=DEPT
    )
    assert food.serial == f"{year}0000001"  # sequences are per type
    body = licence_json(row)
    assert set(body) == {
        "id",
        "version",
        "status",
        "type",
        "issuer",
        "holder",
        "fields",
        "valid_from",
        "valid_until",
        "issued_at",
        "links",
    }
    assert body["status"] == "active" and body["issuer"] == {"uscc": DEPT, "name": "江苏省市场监督管理局"}
    assert body["holder"] == {"name": "江苏某某科技有限公司", "id_type": "001", "id": COMPANY}
    assert _actions(service, row.identifier) == ["seal.apply", "licence.issue"]


def test_metadata_is_canonical_gbt36903_and_its_seal_verifies(service, seal) -> None:
    row = issue_licence(
        service, request_from_json(food_body()), principal_or_actor=SystemActor("cli:test"), department_uscc=DEPT
    )
    meta = canonical_metadata(row)
    decoded = json.loads(meta)
    assert meta == json.dumps(decoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    for code in (
        "ZZMC",
        "ZZLXDM",
        "ZZBS",
        "ZZBFJG",
        "ZZBFJGDM",
        "ZZBFRQ",
        "CZZT",
        "CZZTDM",
        "CZZTDMLX",
        "ZZYXQQSRQ",
        "ZZYXQJZRQ",
        "KZ_XKZBH",
        "KZ_ZTYT",
    ):
        assert code in decoded, code
    assert decoded["ZZBS"] == row.identifier and decoded["CZZTDMLX"] == "111" and decoded["CZZTDM"] == PERSON
    assert decoded["ZZMC"] == "食品经营许可证" and decoded["ZZYXQJZRQ"] == "2030-12-31"
    trust = local_trust_context(service.db)
    report = verify_bytes(row.metadata_signature, trust=trust, original=meta)
    assert report.indication.value == "PASSED", report.as_dict()
    tampered = verify_bytes(
        row.metadata_signature, trust=trust, original=meta.replace("李四".encode(), "王五".encode())
    )
    assert tampered.indication.value == "FAILED"


def test_no_seal_is_a_conflict_and_writes_nothing(service) -> None:
    before = _count(service, AuditEventRecord)
    with pytest.raises(ConflictError) as err:
        issue_licence(service, request_from_json(business_body()), principal_or_actor=ISSUER)
    assert err.value.code == "no_seal"
    assert _count(service) == 0 and _count(service, AuditEventRecord) == before


@pytest.mark.parametrize(
    ("holder", "code"),
    [
        ({"id_type": "111", "id": PERSON[:-1] + ("0" if PERSON[-1] != "0" else "1")}, "invalid_holder_id"),
        ({"id_type": "111", "id": "32010219901307123X"}, "invalid_holder_id"),
        ({"id_type": "001", "id": COMPANY[:-1] + ("0" if COMPANY[-1] != "0" else "1")}, "invalid_holder_id"),
        ({"id_type": "999", "id": COMPANY}, "invalid_holder_id_type"),
    ],
)
def test_holder_ids_are_checked(service, seal, holder, code) -> None:
    body = business_body(holder={"name": "某", **holder})
    with pytest.raises(InvalidInputError) as err:
        issue_licence(service, request_from_json(body), principal_or_actor=ISSUER)
    assert err.value.code == code and err.value.field.startswith("holder.")
    assert _count(service) == 0


def test_dates_and_fields_are_checked(service, seal) -> None:
    with pytest.raises(InvalidInputError) as err:
        issue_licence(
            service,
            request_from_json(food_body(valid_until="2025-01-01")),
            principal_or_actor=SystemActor("t"),
            department_uscc=DEPT,
        )
    assert err.value.code == "invalid_validity"
    with pytest.raises(InvalidInputError) as err:
        request_from_json(food_body(valid_from="2026-13-01"))
    assert err.value.code == "invalid_date" and err.value.field == "valid_from"
    with pytest.raises(InvalidInputError) as err:
        issue_licence(
            service, request_from_json(food_body(fields={})), principal_or_actor=SystemActor("t"), department_uscc=DEPT
        )
    assert err.value.code == "missing_field" and err.value.field == "fields.operator_name"
    with pytest.raises(InvalidInputError) as err:
        issue_licence(
            service, request_from_json(food_body(type="A")), principal_or_actor=SystemActor("t"), department_uscc=DEPT
        )
    assert err.value.code == "unknown_licence_type"
    assert _count(service) == 0


def test_idempotent_retry_returns_the_same_licence_and_issues_nothing(service, seal) -> None:
    first = issue_licence_outcome(
        service, request_from_json(business_body()), principal_or_actor=ISSUER, idempotency_key="order-1"
    )
    rows, events = _count(service), _count(service, AuditEventRecord)
    again = issue_licence_outcome(
        service, request_from_json(business_body()), principal_or_actor=ISSUER, idempotency_key="order-1"
    )
    assert not first.replayed and again.replayed
    assert again.record.identifier == first.record.identifier
    assert again.record.metadata_signature == first.record.metadata_signature
    assert (_count(service), _count(service, AuditEventRecord)) == (rows, events)


def test_same_key_with_a_different_body_is_refused(service, seal) -> None:
    issue_licence(service, request_from_json(business_body()), principal_or_actor=ISSUER, idempotency_key="k")
    rows = _count(service)
    other = business_body(fields={**business_body()["fields"], "legal_representative": "李四"})
    with pytest.raises(ConflictError) as err:
        issue_licence(service, request_from_json(other), principal_or_actor=ISSUER, idempotency_key="k")
    assert err.value.code == "idempotency_key_reused"
    assert _count(service) == rows


def test_issuer_scope_other_department_and_other_type_refused(service, seal) -> None:
    pki.add_department(service, OTHER_DEPT, "另一个局", actor="test")
    with pytest.raises(PermissionDeniedError) as err:
        issue_licence(
            service, request_from_json(business_body()), principal_or_actor=ISSUER, department_uscc=OTHER_DEPT
        )
    assert err.value.code == "other_department"
    with pytest.raises(PermissionDeniedError) as err:
        issue_licence(service, request_from_json(food_body()), principal_or_actor=ISSUER)
    assert err.value.code == "licence_type_not_allowed"
    verifier = Principal("v", Role.VERIFIER)
    with pytest.raises(PermissionDeniedError):
        issue_licence(service, request_from_json(business_body()), principal_or_actor=verifier, department_uscc=DEPT)
    row = issue_licence(service, request_from_json(business_body()), principal_or_actor=ISSUER)
    outsider = Principal("o", Role.ISSUER, OTHER_DEPT, (BUSINESS_LICENCE.code,))
    with pytest.raises(PermissionDeniedError):
        get_licence(service, row.identifier, principal=outsider)
    with pytest.raises(PermissionDeniedError):
        revoke_licence(service, row.identifier, principal_or_actor=outsider, reason="x")
    assert get_licence(service, row.identifier, principal=verifier).identifier == row.identifier
    assert _count(service) == 1


def test_lifecycle_transitions_and_their_audit_events(service, seal) -> None:
    row = issue_licence(service, request_from_json(business_body()), principal_or_actor=ISSUER)
    ident = row.identifier
    assert suspend_licence(service, ident, principal_or_actor=ISSUER, reason="核查中").status == "suspended"
    with pytest.raises(ConflictError) as err:
        suspend_licence(service, ident, principal_or_actor=ISSUER)
    assert err.value.code == "invalid_transition"
    assert reinstate_licence(service, ident, principal_or_actor=ISSUER).status == "active"
    changed = change_licence(service, ident, principal_or_actor=ISSUER, fields={"domicile": "南京市鼓楼区1号"})
    assert changed.version == 2 and changed.serial == row.serial and changed.supersedes_id == row.id
    assert parse_identifier(changed.identifier).version == 2
    assert changed.fields["domicile"] == "南京市鼓楼区1号" and changed.status_index != row.status_index
    assert get_licence(service, ident).status == "superseded"
    with pytest.raises(ConflictError):
        revoke_licence(service, ident, principal_or_actor=ISSUER, reason="x")
    renewed = renew_licence(service, changed.identifier, principal_or_actor=ISSUER, valid_until=dt.date(2040, 5, 1))
    assert renewed.version == 3 and renewed.valid_until == dt.date(2040, 5, 1)
    assert get_licence(service, changed.identifier).status == "superseded"
    revoked = revoke_licence(service, renewed.identifier, principal_or_actor=ISSUER, reason="吊销")
    assert revoked.status == "revoked" and revoked.status_reason == "吊销"
    with pytest.raises(ConflictError):
        reinstate_licence(service, renewed.identifier, principal_or_actor=ISSUER)
    assert _actions(service, ident) == ["seal.apply", "licence.issue", "licence.suspend", "licence.reinstate"]
    assert _actions(service, changed.identifier) == ["seal.apply", "licence.change"]
    assert _actions(service, renewed.identifier) == ["seal.apply", "licence.renew", "licence.revoke"]
    trust = local_trust_context(service.db)
    for r in (changed, renewed):
        assert (
            verify_bytes(r.metadata_signature, trust=trust, original=canonical_metadata(r)).indication.value == "PASSED"
        )
    with service.db.reader() as s:
        assert verify_chain(s).ok


def test_unknown_and_malformed_identifiers(service, seal) -> None:
    row = issue_licence(service, request_from_json(business_body()), principal_or_actor=ISSUER)
    missing = row.identifier.replace(".001.", ".002.")[:-1]
    from trustsvc.licences.identifier import check_char

    payload = missing[len("1.2.156.3005.2.") :].rsplit(".", 1)[0].replace(".", "")
    with pytest.raises(NotFoundError) as err:
        get_licence(service, missing + check_char(payload))
    assert err.value.code == "licence_not_found"
    with pytest.raises(InvalidInputError):
        get_licence(service, "1.2.156.3005.2.nope")
