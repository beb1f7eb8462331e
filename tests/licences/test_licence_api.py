"""Licences over HTTP and the CLI: the §5.1 contracts, idempotency, roles and scope, lifecycle,
and Hypothesis-generated bad bodies that must get a coded 4xx and write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from licence_helpers import COMPANY, DEPT, OTHER_DEPT, bearer, business_body, food_body
from sqlalchemy import func, select

from trustsvc import pki
from trustsvc.cli import cli
from trustsvc.errors import InvalidInputError
from trustsvc.licences.catalogue import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE
from trustsvc.licences.identifier import parse_identifier
from trustsvc.licences.service import validate_holder_id
from trustsvc.storage.models import AuditEventRecord, LicenceRecord

SHAPE = {
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


def _rows(service) -> tuple[int, int]:
    with service.db.reader() as s:
        return (
            s.execute(select(func.count()).select_from(LicenceRecord)).scalar_one(),
            s.execute(select(func.count()).select_from(AuditEventRecord)).scalar_one(),
        )


def test_licence_types_contract(client) -> None:
    resp = client.get("/api/v1/licence-types")
    assert resp.status_code == 200
    types = resp.get_json()
    assert {BUSINESS_LICENCE.code, FOOD_BUSINESS_LICENCE.code} <= {t["code"] for t in types} and len(types) >= 30
    for t in types:
        assert set(t) >= {"code", "name", "fields", "schema"}
        for f in t["fields"]:
            assert set(f) >= {"name", "label", "required", "type"}
            assert f["type"] in ("string", "date", "integer", "enum")


def test_issue_returns_201_and_replay_200_with_the_same_body(client, keys, seal, service) -> None:
    headers = bearer(keys["issuer"], **{"Idempotency-Key": "req-1"})
    first = client.post("/api/v1/licences", json=business_body(), headers=headers)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert set(body) == SHAPE and body["version"] == 1 and body["status"] == "active"
    assert body["type"] == BUSINESS_LICENCE.code and body["holder"]["id"] == COMPANY
    assert parse_identifier(body["id"]).issuer_code == DEPT
    counts = _rows(service)
    again = client.post("/api/v1/licences", json=business_body(), headers=headers)
    assert again.status_code == 200 and again.get_json() == body
    assert _rows(service) == counts
    reused = client.post("/api/v1/licences", json=business_body(valid_until="2040-01-01"), headers=headers)
    assert reused.status_code == 409 and reused.get_json()["error"]["code"] == "idempotency_key_reused"
    assert _rows(service) == counts


def test_issue_201_says_where_the_licence_lives(client, keys, seal) -> None:
    from api.openapi import spec

    resp = client.post("/api/v1/licences", json=business_body(), headers=bearer(keys["issuer"]))
    assert resp.status_code == 201
    assert resp.headers["Location"] == f"/api/v1/licences/{resp.get_json()['id']}"
    assert client.get(resp.headers["Location"], headers=bearer(keys["issuer"])).get_json() == resp.get_json()
    created = spec()["paths"]["/api/v1/licences"]["post"]["responses"]["201"]
    assert "Location" in created["headers"]


def test_broken_json_is_a_400_saying_where_it_broke(client, keys, seal, service) -> None:
    counts = _rows(service)
    text = json.dumps(business_body(), ensure_ascii=False, indent=2).replace('"holder": {', '"holder": {,', 1)
    at = text.index("{,") + 1
    line, column = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
    resp = client.post(
        "/api/v1/licences", data=text.encode(), content_type="application/json", headers=bearer(keys["issuer"])
    )
    assert resp.status_code == 400
    err = resp.get_json()["error"]
    assert err["code"] == "malformed_json"
    assert f"line {line}, column {column} (character {at})" in err["message"], err["message"]
    # valid JSON that is not an object keeps its own message and code
    for body, kind in (([1], "an array"), ("x", "a string"), (None, "null")):
        other = client.post(
            "/api/v1/licences", data=json.dumps(body), content_type="application/json", headers=bearer(keys["issuer"])
        )
        assert other.status_code == 400
        assert other.get_json()["error"] == {
            "code": "malformed_request",
            "message": f"the body must be a JSON object, not {kind}",
        }
    assert _rows(service) == counts


def test_roles_and_scope(client, keys, seal, service) -> None:
    no_key = client.post("/api/v1/licences", json=business_body())
    assert no_key.status_code == 401
    for role in ("verifier", "peer"):
        resp = client.post("/api/v1/licences", json=business_body(), headers=bearer(keys[role]))
        assert resp.status_code == 403
    other_type = client.post("/api/v1/licences", json=food_body(), headers=bearer(keys["issuer"]))
    assert other_type.status_code == 403 and other_type.get_json()["error"]["code"] == "licence_type_not_allowed"
    pki.add_department(service, OTHER_DEPT, "另一个局", actor="test")
    other_dept = client.post(
        "/api/v1/licences", json={**business_body(), "department": OTHER_DEPT}, headers=bearer(keys["issuer"])
    )
    assert other_dept.status_code == 403 and other_dept.get_json()["error"]["code"] == "other_department"
    admin_nodept = client.post("/api/v1/licences", json=food_body(), headers=bearer(keys["admin"]))
    assert admin_nodept.status_code == 422 and admin_nodept.get_json()["error"]["code"] == "department_required"
    admin = client.post("/api/v1/licences", json={**food_body(), "department": DEPT}, headers=bearer(keys["admin"]))
    assert admin.status_code == 201
    ident = admin.get_json()["id"]
    for role in ("issuer", "verifier", "admin"):
        got = client.get(f"/api/v1/licences/{ident}", headers=bearer(keys[role]))
        assert got.status_code == 200 and got.get_json() == admin.get_json()
    assert client.get(f"/api/v1/licences/{ident}", headers=bearer(keys["peer"])).status_code == 403
    assert client.get(f"/api/v1/licences/{ident}").status_code == 401
    bad = client.get("/api/v1/licences/1.2.156.3005.2.X", headers=bearer(keys["admin"]))
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_identifier"


def test_type_not_allowed_says_which_types_the_key_has_and_how_to_get_one(client, keys, seal, service) -> None:
    from trustsvc.apikeys import create_api_key

    with service.db.transaction() as s:
        untyped = create_api_key(s, role="issuer", actor="test", department_uscc=DEPT).token
    none = client.post("/api/v1/licences", json=business_body(), headers=bearer(untyped))
    assert none.status_code == 403
    err = none.get_json()["error"]
    assert err["code"] == "licence_type_not_allowed"
    assert "created without licence types" in err["message"]
    assert f"trustsvc apikey create --role issuer --department {DEPT} --types {BUSINESS_LICENCE.code}" in err["message"]

    other = client.post("/api/v1/licences", json=food_body(), headers=bearer(keys["issuer"]))
    assert other.status_code == 403
    message = other.get_json()["error"]["message"]
    assert f"may issue only {BUSINESS_LICENCE.code} (营业执照)" in message
    assert f"not {FOOD_BUSINESS_LICENCE.code} (食品经营许可证)" in message
    both = ",".join(sorted((BUSINESS_LICENCE.code, FOOD_BUSINESS_LICENCE.code)))
    assert f"trustsvc apikey create --role issuer --department {DEPT} --types {both}" in message


@pytest.mark.parametrize("sent", ["no-such-type", "营业执照X", BUSINESS_LICENCE.code.lower()])
def test_an_unknown_type_is_a_422_listing_codes_and_names_before_any_403(
    client, keys, seal, service, sent: str
) -> None:
    """The type is checked before the key's types: a wrong type is the request's fault (422)."""
    counts = _rows(service)
    for key in (keys["issuer"], keys["admin"]):
        body = {**business_body(type=sent), "department": DEPT} if key == keys["admin"] else business_body(type=sent)
        resp = client.post("/api/v1/licences", json=body, headers=bearer(key))
        assert resp.status_code == 422, resp.get_json()
        err = resp.get_json()["error"]
        assert err["code"] == "unknown_licence_type" and err["field"] == "type"
        assert [e["field"] for e in err["errors"]] == ["type"]
        assert err["errors"][0]["code"] == "unknown_licence_type"
        for t in (BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE):
            assert t.code in err["message"] and t.name in err["message"]
    assert _rows(service) == counts


def test_a_type_given_by_its_exact_catalogue_name_is_its_code(client, keys, seal) -> None:
    """GET /licence-types shows names; a unique name is taken as an alias of its code."""
    resp = client.post("/api/v1/licences", json=business_body(type="营业执照"), headers=bearer(keys["issuer"]))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["type"] == BUSINESS_LICENCE.code
    # by name or by code, the key's types still decide
    food = client.post("/api/v1/licences", json=food_body(type="食品经营许可证"), headers=bearer(keys["issuer"]))
    assert food.status_code == 403 and food.get_json()["error"]["code"] == "licence_type_not_allowed"


def test_no_seal_is_409(client, keys) -> None:
    resp = client.post("/api/v1/licences", json=business_body(), headers=bearer(keys["issuer"]))
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "no_seal"


def test_lifecycle_over_http(client, keys, seal) -> None:
    ident = client.post("/api/v1/licences", json=business_body(), headers=bearer(keys["issuer"])).get_json()["id"]
    h = bearer(keys["issuer"])
    assert client.post(f"/api/v1/licences/{ident}/suspend", headers=h).get_json()["status"] == "suspended"
    again = client.post(f"/api/v1/licences/{ident}/suspend", headers=h)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_transition"
    assert (
        client.post(f"/api/v1/licences/{ident}/reinstate", json={"reason": "核查完毕"}, headers=h).get_json()["status"]
        == "active"
    )
    no_reason = client.post(f"/api/v1/licences/{ident}/revoke", json={}, headers=h)
    assert no_reason.status_code == 422 and no_reason.get_json()["error"]["code"] == "missing_field"
    assert (
        client.post(
            f"/api/v1/licences/{ident}/revoke", json={"reason": "x"}, headers=bearer(keys["verifier"])
        ).status_code
        == 403
    )
    revoked = client.post(f"/api/v1/licences/{ident}/revoke", json={"reason": "吊销"}, headers=h)
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"


# -- Hypothesis: bad bodies ------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_not_string = st.booleans() | st.integers() | st.floats(allow_nan=False) | st.lists(_json, max_size=2)
_not_object = st.none() | _not_string | st.text(max_size=20)


def _bad_date(t: str) -> bool:
    import datetime as dt
    import re

    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", t):
        return True
    try:
        return not 1949 <= dt.date.fromisoformat(t).year <= 2199
    except ValueError:
        return True


def _bad_holder_id(t: str) -> bool:
    try:
        validate_holder_id("001", t)
    except InvalidInputError:
        return True
    return False


def _set(path: tuple[str, ...], value):
    def apply(body: dict) -> dict:
        target = body
        for k in path[:-1]:
            target = target[k]
        target[path[-1]] = value
        return body

    return apply


_mutations = st.one_of(
    st.tuples(st.sampled_from(["type", "holder", "fields"]), _not_object.filter(lambda v: v is not None)).map(
        lambda kv: _set((kv[0],), kv[1])
    ),
    st.tuples(st.sampled_from(["valid_from", "valid_until"]), _not_string).map(lambda kv: _set((kv[0],), kv[1])),
    st.tuples(st.sampled_from(["valid_from", "valid_until"]), st.text(max_size=12).filter(_bad_date)).map(
        lambda kv: _set((kv[0],), kv[1])
    ),
    st.tuples(st.sampled_from(["name", "id_type", "id"]), _not_string).map(lambda kv: _set(("holder", kv[0]), kv[1])),
    st.text(max_size=20).filter(_bad_holder_id).map(lambda t: _set(("holder", "id"), t)),
    st.tuples(
        st.sampled_from([f.name for f in BUSINESS_LICENCE.fields]),
        _not_string | st.dictionaries(st.text(max_size=3), _json, max_size=2),
    ).map(lambda kv: _set(("fields", kv[0]), kv[1])),
    st.tuples(
        st.text(max_size=10).filter(
            lambda k: k not in {"type", "holder", "fields", "valid_from", "valid_until", "department"}
        ),
        _json,
    ).map(lambda kv: _set((kv[0],), kv[1])),
    st.tuples(st.text(max_size=10).filter(lambda k: k not in {f.name for f in BUSINESS_LICENCE.fields}), _json).map(
        lambda kv: _set(("fields", kv[0]), kv[1])
    ),
)


# These strategies never touch the global `random` module, but Hypothesis compares its state
# around each draw and can be fooled by another thread of the session (its own comment on the
# race in hypothesis/control.py); seen once in a full-suite run. Only that message is ignored.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        _mutations.map(lambda m: ("json", m(business_body()))),
        _not_object.map(lambda v: ("json", v)),
        st.binary(max_size=40).map(lambda b: ("raw", b)),
    )
)
def test_bad_bodies_get_a_coded_4xx_and_write_nothing(client, keys, seal, service, body) -> None:
    kind, value = body
    before = _rows(service)
    headers = bearer(keys["issuer"])
    if kind == "json":
        resp = client.post("/api/v1/licences", json=value, headers=headers)
    else:
        resp = client.post("/api/v1/licences", data=value, headers={**headers, "Content-Type": "application/json"})
    assert 400 <= resp.status_code < 500, (resp.status_code, value, resp.get_data())
    error = resp.get_json()["error"]
    assert isinstance(error["code"], str) and error["code"] and error["message"]
    assert _rows(service) == before


# -- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(service, service_env) -> dict[str, str]:
    return dict(service_env)


def test_cli_issue_show_revoke(cli_env, seal, tmp_path: Path) -> None:
    data = tmp_path / "licence.json"
    data.write_text(json.dumps(food_body(), ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    issued = runner.invoke(
        cli, ["licence", "issue", "--department", DEPT, "--data", str(data), "--idempotency-key", "cli-1"], env=cli_env
    )
    assert issued.exit_code == 0, issued.output
    body = json.loads(issued.stdout)
    assert set(body) == SHAPE and body["type"] == FOOD_BUSINESS_LICENCE.code
    replay = runner.invoke(
        cli, ["licence", "issue", "--department", DEPT, "--data", str(data), "--idempotency-key", "cli-1"], env=cli_env
    )
    assert replay.exit_code == 0 and json.loads(replay.stdout) == body
    shown = runner.invoke(cli, ["licence", "show", body["id"]], env=cli_env)
    assert shown.exit_code == 0 and json.loads(shown.stdout) == body
    revoked = runner.invoke(cli, ["licence", "revoke", body["id"], "--reason", "吊销"], env=cli_env)
    assert revoked.exit_code == 0 and json.loads(revoked.stdout)["status"] == "revoked"
    data.write_text("{not json", encoding="utf-8")
    bad = runner.invoke(cli, ["licence", "issue", "--department", DEPT, "--data", str(data)], env=cli_env)
    assert bad.exit_code == 1 and "malformed_request" in bad.stderr


def test_every_bad_field_gets_its_own_code(client, keys, seal, service) -> None:
    counts = _rows(service)
    fields = {
        **business_body()["fields"],
        "uscc": "not-a-uscc",
        "established_on": "2020-02-30",
        "entity_type": "不存在的类型",
        "colour": "red",
    }
    del fields["domicile"]
    resp = client.post("/api/v1/licences", json=business_body(fields=fields), headers=bearer(keys["issuer"]))
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    by_field = {p["field"]: p["code"] for p in error["errors"]}
    assert by_field == {
        "fields.colour": "unknown_field",
        "fields.uscc": "field_pattern_mismatch",
        "fields.entity_type": "invalid_enum_value",
        "fields.established_on": "invalid_date",
        "fields.domicile": "missing_field",
    }
    assert (error["field"], error["code"]) == (error["errors"][0]["field"], error["errors"][0]["code"])
    assert _rows(service) == counts
