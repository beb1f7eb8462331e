"""Presentations end to end at the service level: made for the holder, verified offline (held
status lists) and online (live status, single use)."""

from __future__ import annotations

import datetime as dt

import pytest
from holder_helpers import COMPANY, HOLDER, OTHER_COMPANY, business_body, checks_by_name

from ca.results import Indication
from trustsvc.apikeys import SystemActor
from trustsvc.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from trustsvc.holder.format import decode_envelope
from trustsvc.holder.material import holder_trust_from_db
from trustsvc.holder.presentation import make_presentation, presentation_request_from_json
from trustsvc.holder.verify import OnlineUse, verify_holder_text
from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.licences.service import issue_licence, request_from_json, revoke_licence, suspend_licence

FIVE = {
    "business": ["name", "uscc", "legal_representative", "established_on", "holder_name"],
    "food": ["operator_name", "permit_number", "business_form", "premises", "holder_id"],
}


def _request(licences, *, fields=None, purpose="开立对公账户", **extra):
    fields = fields or {}
    return presentation_request_from_json(
        {
            "holder": HOLDER,
            "purpose": purpose,
            **extra,
            "licences": [
                {"id": x, "fields": fields.get(x, ["name"] if BUSINESS_LICENCE.code in x else ["operator_name"])}
                for x in licences
            ],
        }
    )


def _three(licences):
    return {licences.business: FIVE["business"], licences.food: FIVE["food"], licences.other_food: FIVE["food"]}


def test_three_licences_with_five_fields_verify_offline_with_exactly_the_disclosed_fields(service, licences):
    chosen = _three(licences)
    made = make_presentation(service, _request(licences.all, fields=chosen), principal_or_actor=SystemActor("test"))
    report = verify_holder_text(made.text, trust=holder_trust_from_db(service.db, live=False))
    assert report.indication is Indication.PASSED, report.message
    obj = report.object
    assert obj["code_type"] == "presentation" and obj["purpose"] == "开立对公账户"
    assert [x["licence"] for x in obj["licences"]] == list(licences.all)
    for entry in obj["licences"]:
        assert sorted(entry["disclosed"]) == sorted(chosen[entry["licence"]])
        assert not set(entry["disclosed"]) & set(entry["withheld"])
        assert "holder_name" in entry["labels"] or "holder_id" in entry["labels"]
    business = obj["licences"][0]
    assert business["disclosed"]["uscc"] == COMPANY and "business_scope" in business["withheld"]
    assert report.status_now["status_lists"][0]["sequence"] is not None
    assert any("single use" in w for w in report.warnings)


def test_online_single_use_and_replay_is_already_used(service, licences, keys):
    made = make_presentation(service, _request([licences.business]), principal_or_actor=SystemActor("test"))
    trust = holder_trust_from_db(service.db, live=True)
    anonymous = verify_holder_text(made.text, trust=trust, online=OnlineUse(service.db))
    assert anonymous.indication is Indication.PASSED
    use = OnlineUse(service.db, actor=keys["verifier_actor"], purpose="开立对公账户")
    first = verify_holder_text(made.text, trust=trust, online=use)
    assert first.indication is Indication.PASSED, first.message
    assert checks_by_name(first)["presentation.single_use"] == "passed"
    again = verify_holder_text(made.text, trust=trust, online=use)
    assert (again.indication, again.sub_indication) == (Indication.FAILED, "ALREADY_USED")
    peek = verify_holder_text(made.text, trust=trust, online=OnlineUse(service.db))
    assert peek.sub_indication == "ALREADY_USED"


def test_past_its_ttl_a_presentation_is_failed_expired(service, licences):
    made = make_presentation(service, _request([licences.business], ttl=30), principal_or_actor=SystemActor("test"))
    later = made.expires_at + dt.timedelta(seconds=1)
    report = verify_holder_text(made.text, trust=holder_trust_from_db(service.db, live=True), now=later)
    assert (report.indication, report.sub_indication) == (Indication.FAILED, "EXPIRED")


def test_named_verifier_and_purpose_are_enforced_online(service, licences, keys):
    made = make_presentation(
        service, _request([licences.business], verifier=keys["verifier_actor"]), principal_or_actor=SystemActor("test")
    )
    trust = holder_trust_from_db(service.db, live=True)
    other = verify_holder_text(
        made.text, trust=trust, online=OnlineUse(service.db, keys["verifier2_actor"], "开立对公账户")
    )
    assert (other.indication, other.sub_indication) == (Indication.FAILED, "SIG_CONSTRAINTS_FAILURE")
    wrong_purpose = verify_holder_text(
        made.text, trust=trust, online=OnlineUse(service.db, keys["verifier_actor"], "贷款")
    )
    assert wrong_purpose.indication is Indication.FAILED
    ok = verify_holder_text(
        made.text, trust=trust, online=OnlineUse(service.db, keys["verifier_actor"], "开立对公账户")
    )
    assert ok.indication is Indication.PASSED, ok.message


def test_status_revoked_suspended_show_per_licence(service, licences):
    made = make_presentation(
        service, _request([licences.business, licences.food]), principal_or_actor=SystemActor("test")
    )
    revoke_licence(service, licences.food, principal_or_actor=SystemActor("test"), reason="吊销")
    for live in (True, False):
        report = verify_holder_text(made.text, trust=holder_trust_from_db(service.db, live=live))
        assert (report.indication, report.sub_indication) == (Indication.FAILED, "REVOKED"), live
        assert checks_by_name(report)["licence[0].status"] == "passed"
    suspend_licence(service, licences.business, principal_or_actor=SystemActor("test"))
    with pytest.raises(ConflictError) as exc:
        make_presentation(service, _request([licences.business]), principal_or_actor=SystemActor("test"))
    assert exc.value.code == "licence_not_active"


def test_only_the_holders_own_licences_and_known_fields(service, licences):
    stranger = issue_licence(
        service,
        request_from_json(business_body(OTHER_COMPANY)),
        principal_or_actor=SystemActor("test"),
        department_uscc="11320000MB0000001G",
        timestamp=False,
    ).identifier
    with pytest.raises(NotFoundError):
        make_presentation(service, _request([stranger]), principal_or_actor=SystemActor("test"))
    with pytest.raises(InvalidInputError) as exc:
        make_presentation(
            service,
            _request([licences.business], fields={licences.business: ["nope"]}),
            principal_or_actor=SystemActor("test"),
        )
    assert exc.value.code == "unknown_field"
    with pytest.raises(InvalidInputError) as exc:
        make_presentation(service, _request([licences.business], ttl=10), principal_or_actor=SystemActor("test"))
    assert exc.value.code == "invalid_ttl"


def test_only_wallet_and_admin_keys_act_for_holders(service, licences, keys):
    from trustsvc.apikeys import authenticate

    with service.db.reader() as s:
        verifier = authenticate(s, keys["verifier"])
        wallet = authenticate(s, keys["wallet"])
    with pytest.raises(PermissionDeniedError):
        make_presentation(service, _request([licences.business]), principal_or_actor=verifier)
    made = make_presentation(service, _request([licences.business]), principal_or_actor=wallet)
    assert decode_envelope(made.text).typ == "presentation"
