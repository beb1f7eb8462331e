"""Selective disclosure: for random field subsets the verifier sees exactly what was disclosed,
and any change to a disclosed value, salt or digest, an added field, or another licence's
fields under an MSO, FAILS. Tampered payloads are re-signed with the region's real code signer
(what a compromised wallet back end could do), so the issuer-signed digests are what stop them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import pytest
import zxingcpp
from holder_helpers import COMPANY, DEPT, HOLDER, OTHER_DEPT, business_body, food_body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ca.results import Indication
from trustsvc import pki
from trustsvc.apikeys import SystemActor
from trustsvc.config import load_config, write_config
from trustsvc.context import open_service
from trustsvc.holder.common import code_signer
from trustsvc.holder.format import decode_envelope, sign_envelope
from trustsvc.holder.material import holder_trust_from_db
from trustsvc.holder.mso import make_mso_in_session, wallet_items
from trustsvc.holder.presentation import MAX_PRESENTATION_CHARS, make_presentation, presentation_request_from_json
from trustsvc.holder.verify import verify_holder_text
from trustsvc.licences.service import find_licence, issue_licence, request_from_json
from trustsvc.sealing import SealRequest, make_department_seal
from trustsvc.storage.models import utcnow


@dataclass
class World:
    service: Any
    licences: tuple[str, str, str]
    fields: dict[str, list[str]]
    """Licence → every field its MSO signs."""
    values: dict[str, dict[str, Any]]
    trust: Any


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home: Path = tmp_path_factory.mktemp("disclosure") / "home"
    env = {"TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_PIN": "holder-pin", "DATABASE_URL": f"sqlite:///{home}.db"}
    write_config(home / "config.toml", {"region": {"code": "320000", "name": "江苏省"}})
    svc = open_service(load_config(env), env, create_keystore=True)
    pki.init_region(svc, "320000", "江苏省", actor="test")
    pki.add_department(svc, DEPT, "江苏省市场监督管理局", actor="test")
    pki.add_department(svc, OTHER_DEPT, "南京市市场监督管理局", actor="test")
    for uscc, name in ((DEPT, "江苏省市场监督管理局"), (OTHER_DEPT, "南京市市场监督管理局")):
        make_department_seal(svc, SealRequest(uscc, name, center_text="证照专用章"), actor="test")
    ids = tuple(
        issue_licence(
            svc, request_from_json(body), principal_or_actor=SystemActor("test"), department_uscc=dept, timestamp=False
        ).identifier
        for body, dept in (
            (business_body(), DEPT),
            (food_body(), DEPT),
            (food_body(permit="JY23201040000099"), OTHER_DEPT),
        )
    )
    fields, values = {}, {}
    with svc.db.transaction() as s:
        for ident in ids:
            items = wallet_items(make_mso_in_session(svc, s, find_licence(s, ident)))
            fields[ident] = list(items)
            values[ident] = {k: v for k, (_, v) in items.items()}
    yield World(svc, ids, fields, values, holder_trust_from_db(svc.db, live=False))  # type: ignore[arg-type]
    svc.close()


def present(w: World, chosen: dict[str, list[str]], **extra: Any) -> str:
    request = presentation_request_from_json(
        {
            "holder": HOLDER,
            "purpose": "开立对公账户",
            **extra,
            "licences": [{"id": k, "fields": v} for k, v in chosen.items()],
        }
    )
    return make_presentation(w.service, request, principal_or_actor=SystemActor("test")).text


def resign(w: World, text: str, change) -> str:
    """Decode the presentation's payload, let ``change`` edit it, and sign it again with the
    region's own code-signer key."""
    body = cbor2.loads(decode_envelope(text).sign1.payload)
    change(body)
    with w.service.db.reader() as s:
        signer = code_signer(s, utcnow())
    return sign_envelope(
        cbor2.dumps(body, canonical=True), signer=w.service.keystore.signer(signer.key_ref), cert_der=signer.der
    )


def verdict(w: World, text: str) -> tuple[Indication, str | None, Any]:
    report = verify_holder_text(text, trust=w.trust)
    return report.indication, report.sub_indication, report


def subsets(w: World) -> st.SearchStrategy[dict[str, list[str]]]:
    return st.fixed_dictionaries(
        {ident: st.lists(st.sampled_from(w.fields[ident]), unique=True, max_size=5) for ident in w.licences}
    )


_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_random_subsets_show_exactly_the_disclosed_fields(world):
    @_SETTINGS
    @given(chosen=subsets(world))
    def check(chosen):
        indication, _sub, report = verdict(world, present(world, chosen))
        assert indication is Indication.PASSED, report.message
        for entry in report.object["licences"]:
            ident = entry["licence"]
            assert set(entry["disclosed"]) == set(chosen[ident])
            assert entry["disclosed"] == {k: world.values[ident][k] for k in chosen[ident]}
            assert set(entry["withheld"]) == set(world.fields[ident]) - set(chosen[ident])

    check()


def _first_disclosed(body: dict[Any, Any]) -> tuple[int, list[Any]]:
    for i, doc in enumerate(body["docs"]):
        if doc["f"]:
            return i, doc["f"][0]
    raise AssertionError("nothing disclosed")


def test_any_change_to_a_disclosed_value_or_salt_fails(world):
    @_SETTINGS
    @given(
        chosen=subsets(world).filter(lambda c: any(c.values())), what=st.sampled_from(["value", "salt"]), data=st.data()
    )
    def check(chosen, what, data):
        text = present(world, chosen)

        def change(body):
            _, item = _first_disclosed(body)
            if what == "salt":
                flip = data.draw(st.integers(0, 15))
                item[1] = item[1][:flip] + bytes([item[1][flip] ^ 0x01]) + item[1][flip + 1 :]
            else:
                item[2] = (item[2] + "改") if isinstance(item[2], str) else item[2] + 1

        indication, sub, report = verdict(world, resign(world, text, change))
        assert (indication, sub) == (Indication.FAILED, "HASH_FAILURE"), report.message
        rejected = [e.get("rejected") for e in report.object["licences"] if e.get("rejected")]
        assert rejected, "the changed field is named as rejected"

    check()


def test_a_changed_digest_breaks_the_departments_signature(world):
    text = present(world, {world.licences[0]: ["name"]})

    def change(body):
        protected, unprotected, payload, signature = body["docs"][0]["mso"].value
        claims = cbor2.loads(payload)
        claims["digests"]["name"] = bytes(16)
        body["docs"][0]["mso"] = cbor2.CBORTag(
            18, [protected, unprotected, cbor2.dumps(claims, canonical=True), signature]
        )

    indication, sub, report = verdict(world, resign(world, text, change))
    assert (indication, sub) == (Indication.FAILED, "SIG_CRYPTO_FAILURE")
    assert [c.name for c in report.checks if c.result == "failed"] == ["licence[0].mso.signature"]


def test_adding_an_undisclosed_field_fails(world):
    ident = world.licences[0]
    text = present(world, {ident: ["name"]})
    for name, value in (("legal_representative", world.values[ident]["legal_representative"]), ("nickname", "x")):

        def change(body, name=name, value=value):
            body["docs"][0]["f"].append([name, bytes(16), value])

        indication, sub, report = verdict(world, resign(world, text, change))
        assert (indication, sub) == (Indication.FAILED, "HASH_FAILURE"), name
        assert report.object["licences"][0]["disclosed"] == {"name": world.values[ident]["name"]}


def test_an_mso_with_another_licences_fields_fails(world):
    food, other_food = world.licences[1], world.licences[2]
    text = present(world, {food: ["operator_name", "permit_number"], other_food: ["operator_name", "permit_number"]})

    def swap(body):
        body["docs"][0]["f"], body["docs"][1]["f"] = body["docs"][1]["f"], body["docs"][0]["f"]

    indication, sub, _ = verdict(world, resign(world, text, swap))
    assert (indication, sub) == (Indication.FAILED, "HASH_FAILURE")

    def other_mso(body):
        body["docs"][0]["mso"] = body["docs"][1]["mso"]

    indication, sub, _ = verdict(world, resign(world, text, other_mso))
    assert indication is Indication.FAILED


def test_a_changed_character_without_the_regions_key_fails(world):
    text = present(world, {world.licences[0]: ["name"]})
    for i in (10, len(text) // 2, len(text) - 3):
        changed = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]
        indication, sub, _ = verdict(world, changed)
        assert indication is Indication.FAILED and sub in ("FORMAT_FAILURE", "SIG_CRYPTO_FAILURE", "HASH_FAILURE")


def test_three_licences_with_five_fields_fit_a_qr_code_at_level_m(world):
    chosen = {
        world.licences[0]: ["name", "uscc", "legal_representative", "established_on", "holder_name"],
        world.licences[1]: ["operator_name", "permit_number", "business_form", "premises", "holder_id"],
        world.licences[2]: ["operator_name", "permit_number", "business_form", "premises", "holder_id"],
    }
    text = present(world, chosen, ttl=300)
    assert len(text) <= MAX_PRESENTATION_CHARS
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = zxingcpp.write_barcode_to_image(barcode, scale=2)
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert [b.text for b in found] == [text]
    assert found[0].ec_level == "M"
    assert verdict(world, found[0].text)[0] is Indication.PASSED
    print(f"\n3 licences x 5 fields: {len(text)} characters, QR version {found[0].symbology_identifier}")


def test_the_presentation_names_the_holder_nowhere_but_in_disclosed_fields(world):
    text = present(world, {world.licences[0]: ["entity_type"]})
    payload = decode_envelope(text).sign1.payload
    assert COMPANY.encode() not in payload and "江苏某某科技有限公司".encode() not in payload
    assert dt.datetime.now(dt.UTC) < verify_holder_text(text, trust=world.trust).signing_time + dt.timedelta(minutes=5)
