"""A region's own licence types: files in its home override a national type's layout and add a
type; both issue, render and verify; every change is a version, and a licence issued under an
older version still renders (as issued) and verifies. A malformed file stops the start, saying
which file, which key and why. The admin API and ``trustsvc licence-type`` do the same."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from licence_helpers import DEPT, bearer, business_body
from pdf_tools import poppler_tool
from schema_bodies import body_from_schema
from sqlalchemy import select

from trustsvc.apikeys import SystemActor
from trustsvc.cli import cli
from trustsvc.config import load_config
from trustsvc.context import open_service
from trustsvc.errors import ConfigurationError
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.licences.service import issue_licence, request_from_json
from trustsvc.licences.type_store import HOME_DIR_NAME, sync_licence_types
from trustsvc.storage.models import LicenceRecord, LicenceTypeVersionRecord

REGION_TYPE = DEPT + "101"  # defined by the region's own department: its USCC and a sequence
OVERRIDE = f'''# 江苏: the 营业执照 face with the province's colours and its own foot note
extends = "{BUSINESS_LICENCE.code}"

[face.colours]
frame = "#005A9C"

[face.notes]
lines = ["江苏政务服务网：https://www.jszwfw.gov.cn"]
'''
ADDED = f'''# 江苏省新型农业经营主体证书: a type only this region issues
code = "{REGION_TYPE}"
name = "新型农业经营主体证书"
holder_kind = "organisation"

[holder]
name_field = "name"
id_field = "uscc"

[validity]
rule = "fixed_years"
years = 3

[metadata]
defining_authority = "江苏省农业农村厅"

[[fields]]
name = "name"
label = "主体名称"
code = "KZ_ZTMC"
max_length = 100
example = "南京某某家庭农场"

[[fields]]
name = "uscc"
label = "统一社会信用代码"
code = "KZ_TYSHXYDM"
format = "uscc"
example = "92320115MA1XKQ7N3{uscc_check_char("92320115MA1XKQ7N3")}"

[[fields]]
name = "kind"
label = "主体类型"
code = "KZ_ZTLX"
type = "enum"
enum = ["家庭农场", "农民合作社", "农业社会化服务组织"]

[[fields]]
name = "scale"
label = "经营规模（亩）"
code = "KZ_JYGM"
type = "integer"
minimum = 1
maximum = 1000000
example = 320

[face]
base = "certificate"

[face.colours]
frame = "#2E7D32"
title = "#1B5E20"

[face.badge]
field = "uscc"
'''


def _text(pdf: bytes, tmp_path: Path) -> str:
    (tmp_path / "f.pdf").write_bytes(pdf)
    out = subprocess.run(
        [poppler_tool("pdftotext"), str(tmp_path / "f.pdf"), "-"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    ).stdout
    return "".join(out.split())


def _verify(client, pdf: bytes) -> dict:
    return client.post("/api/v1/verify", data={"file": (io.BytesIO(pdf), "licence.pdf")}).get_json()


def _versions(service, code: str) -> list[tuple[int, str]]:
    with service.db.reader() as s:
        return [
            (v.version, v.origin)
            for v in s.execute(
                select(LicenceTypeVersionRecord)
                .where(LicenceTypeVersionRecord.code == code)
                .order_by(LicenceTypeVersionRecord.version)
            ).scalars()
        ]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: versions are rows like any other."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def test_a_regions_override_and_own_type_issue_render_verify_and_old_versions_stay(
    service, client, keys, seal, home: Path, tmp_path: Path
) -> None:
    admin = bearer(keys["admin"])
    # a licence issued under the national 营业执照 (version 1), before the region changes it
    old = issue_licence(
        service, request_from_json(business_body()), principal_or_actor=SystemActor("test"), department_uscc=DEPT
    )
    assert old.type_version == 1
    # the region's files, recorded at the next start
    (home / HOME_DIR_NAME).mkdir()
    (home / HOME_DIR_NAME / "business_licence_js.toml").write_text(OVERRIDE, encoding="utf-8")
    (home / HOME_DIR_NAME / "agri_operator.toml").write_text(ADDED, encoding="utf-8")
    added = sync_licence_types(service.db, home, actor="test")
    assert {(t.code, t.version) for t in added} == {(BUSINESS_LICENCE.code, 2), (REGION_TYPE, 1)}
    assert sync_licence_types(service.db, home) == []  # nothing changed: nothing recorded
    assert _versions(service, BUSINESS_LICENCE.code) == [(1, "national"), (2, "home")]

    served = {t["code"]: t for t in client.get("/api/v1/licence-types").get_json()}
    assert served[BUSINESS_LICENCE.code]["version"] == 2 and served[REGION_TYPE]["name"] == "新型农业经营主体证书"
    for code in (BUSINESS_LICENCE.code, REGION_TYPE):
        body = body_from_schema(served[code]["schema"], department=DEPT)
        created = client.post("/api/v1/licences", json=body, headers=admin)
        assert created.status_code == 201, created.get_json()
        pdf = client.get(created.get_json()["links"]["file"], headers=admin).data
        assert _verify(client, pdf)["indication"] == "PASSED"
        text = _text(pdf, tmp_path)
        if code == REGION_TYPE:
            assert "新型农业经营主体证书" in "".join(text.split()) and "经营规模（亩）" in text
        else:
            assert "江苏政务服务网" in text
        with service.db.reader() as s:
            row = s.execute(
                select(LicenceRecord).where(LicenceRecord.identifier == created.get_json()["id"])
            ).scalar_one()
        assert row.type_version == (2 if code == BUSINESS_LICENCE.code else 1)

    # the old licence's file, made now, is drawn as version 1 drew it, and verifies
    made = client.get(f"/api/v1/licences/{old.identifier}/file", headers=bearer(keys["issuer"]))
    assert made.status_code == 200
    assert _verify(client, made.data)["indication"] == "PASSED"
    old_text = _text(made.data, tmp_path)
    assert "国家企业信用信息公示系统网址" in old_text and "江苏政务服务网" not in old_text
    # and the API shows either version
    v1 = client.get(f"/api/v1/licence-types/{BUSINESS_LICENCE.code}?version=1").get_json()
    assert v1["version"] == 1 and [v["version"] for v in v1["versions"]] == [1, 2]
    assert client.get(f"/api/v1/licence-types/{BUSINESS_LICENCE.code}?version=9").status_code == 404


@pytest.mark.parametrize(
    ("change", "where", "why"),
    [
        (lambda t: t.replace('label = "经营规模（亩）"', 'label = "主体名称"'), "label", "used by another field"),
        (lambda t: t.replace('type = "integer"', 'type = "float"'), "fields[3] (scale).type", "must be one of"),
        (
            lambda t: t.replace('name = "scale"', 'name = "scale"\ncolour = "red"'),
            "fields[3] (scale).colour",
            "is not a key",
        ),
        (lambda t: t.replace("example = 320", "example = 0"), "fields[3] (scale).example", "own rules"),
        (lambda t: t.replace(f'code = "{REGION_TYPE}"', f'code = "{DEPT[:17]}X101"'), "code", "GB 32100"),
        (lambda t: t.replace("years = 3", "years = 0"), "validity.years", "1..100"),
        (lambda t: t.replace('id_field = "uscc"', 'id_field = "kind"'), "holder.id_field", "uscc or gb11643"),
        (
            lambda t: t.replace('[face.badge]\nfield = "uscc"', '[face.badge]\nfield = "nope"'),
            "face.badge.field",
            "not a field",
        ),
        (lambda t: t.replace('frame = "#2E7D32"', 'frame = "green"'), "face", "#RRGGBB"),
        (lambda t: t.replace("max_length = 100", 'max_length = 100\npattern = "[a-z"'), "pattern", "anchored"),
        (lambda t: t + "\n[broken", "(file)", "unreadable"),
    ],
)
def test_a_malformed_type_file_stops_the_start_naming_file_key_and_reason(
    service_env, home: Path, change, where, why
) -> None:
    from trustsvc.config import write_config

    write_config(home / "config.toml", {"region": {"code": "320000", "name": "江苏省"}})
    (home / HOME_DIR_NAME).mkdir(parents=True)
    path = home / HOME_DIR_NAME / "agri_operator.toml"
    path.write_text(change(ADDED), encoding="utf-8")
    with pytest.raises(ConfigurationError) as err:
        open_service(load_config(service_env), service_env, create_keystore=True)
    assert err.value.code == "licence_type_invalid"
    assert str(path) in err.value.message and where in err.value.message and why in err.value.message, err.value.message


def test_an_api_version_stays_current_over_an_unchanged_file_and_the_cli_and_api_add_types(
    service, service_env, client, keys, home: Path, tmp_path: Path
) -> None:
    admin = bearer(keys["admin"])
    bad = client.post(
        "/api/v1/licence-types",
        json={"extends": BUSINESS_LICENCE.code, "face": {"colours": {"frame": "gold"}}},
        headers=admin,
    )
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_licence_type"
    assert bad.get_json()["error"]["field"] == "face"
    change = {
        "extends": BUSINESS_LICENCE.code,
        "validity": {"rule": "long_term", "label": "营业期限", "end_allowed": False},
    }
    resp = client.post("/api/v1/licence-types", json=change, headers=admin)
    assert resp.status_code == 201 and resp.get_json()["version"] == 2
    assert resp.headers["Location"].endswith(f"{BUSINESS_LICENCE.code}?version=2")
    assert client.post("/api/v1/licence-types", json=change, headers=admin).status_code == 200  # the same: no v3
    assert client.post("/api/v1/licence-types", json=change, headers=bearer(keys["issuer"])).status_code == 403
    # the national file has not changed since it was recorded: a restart keeps the API's version
    assert sync_licence_types(service.db, home) == []
    schema = client.get(f"/api/v1/licence-types/{BUSINESS_LICENCE.code}").get_json()["schema"]
    assert schema["properties"]["valid_until"]["type"] == "null"
    ends = client.post("/api/v1/licences", json=business_body(valid_until="2040-01-01", department=DEPT), headers=admin)
    assert ends.status_code == 422 and ends.get_json()["error"]["field"] == "valid_until"

    # the CLI: add a file, list, show
    path = tmp_path / "agri_operator.toml"
    path.write_text(ADDED, encoding="utf-8")
    runner = CliRunner()
    added = runner.invoke(cli, ["licence-type", "add", str(path)], env=service_env)
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout) == {
        "code": REGION_TYPE,
        "name": "新型农业经营主体证书",
        "version": 1,
        "template": "agri_operator",
        "recorded": True,
    }
    listed = runner.invoke(cli, ["licence-type", "list"], env=service_env)
    assert listed.exit_code == 0 and REGION_TYPE in listed.stdout and "v2" in listed.stdout
    shown = runner.invoke(cli, ["licence-type", "show", "新型农业经营主体证书", "--schema"], env=service_env)
    assert json.loads(shown.stdout)["properties"]["type"]["const"] == REGION_TYPE
    old = runner.invoke(cli, ["licence-type", "show", BUSINESS_LICENCE.code, "--version", "1"], env=service_env)
    assert json.loads(old.stdout)["version"] == 1 and json.loads(old.stdout)["versions"] == [1, 2]
    broken = tmp_path / "broken.toml"
    broken.write_text(ADDED.replace("years = 3", "years = 0"), encoding="utf-8")
    refused = runner.invoke(cli, ["licence-type", "add", str(broken)], env=service_env)
    assert refused.exit_code == 1 and "invalid_licence_type" in refused.stderr and "validity.years" in refused.stderr


def test_a_type_added_through_the_api_while_serving_issues_and_verifies(service, client, keys, seal) -> None:
    import tomllib

    admin = bearer(keys["admin"])
    # the process has built its trust snapshot already, after the department's status list
    first = client.post("/api/v1/licences", json=business_body(department=DEPT), headers=admin).get_json()
    assert _verify(client, client.get(first["links"]["file"], headers=admin).data)["indication"] == "PASSED"
    definition = {**tomllib.loads(ADDED), "template": "agri_operator"}
    added = client.post("/api/v1/licence-types", json=definition, headers=admin)
    assert added.status_code == 201, added.get_json()
    schema = client.get(f"/api/v1/licence-types/{REGION_TYPE}").get_json()["schema"]
    created = client.post("/api/v1/licences", json=body_from_schema(schema, department=DEPT), headers=admin)
    assert created.status_code == 201, created.get_json()
    pdf = client.get(created.get_json()["links"]["file"], headers=admin).data
    report = _verify(client, pdf)
    assert report["indication"] == "PASSED", [c for c in report["checks"] if c["result"] != "passed"]


def test_a_type_another_process_records_is_what_the_next_licence_is_checked_against(
    service, service_env, seal, tmp_path: Path
) -> None:
    """Issuance checks a request against the catalogue this process holds and compares that
    catalogue's marker in the transaction that writes. A type, or a version of one, that another
    process records (``trustsvc licence-type add``) is found at the next request, and a body its
    new version refuses is refused, not issued under the old one."""
    import sys
    import tomllib

    from trustsvc.errors import InvalidInputError
    from trustsvc.licences.type_store import held_catalogue
    from trustsvc.licences.typedef import parse_definition

    def issue(body: dict):
        return issue_licence(
            service, request_from_json(body), principal_or_actor=SystemActor("test"), department_uscc=DEPT
        )

    def add_elsewhere(text: str) -> None:
        path = tmp_path / "agri_operator.toml"
        path.write_text(text, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "trustsvc.cli", "licence-type", "add", str(path)],
            env=service_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr

    issue(business_body())
    held = held_catalogue(service.db.redacted_url())
    assert held is not None and REGION_TYPE not in held.by_code  # what this process holds
    # a new type: unknown to what this process holds, found when the check against it fails
    add_elsewhere(ADDED)
    assert held_catalogue(service.db.redacted_url()) is held  # nothing told this process
    body = body_from_schema(parse_definition(tomllib.loads(ADDED), template="agri_operator", origin="api").schema())
    assert issue(body).type_version == 1
    # a new version requiring a field version 1 did not have: the batch sees the catalogue
    # moved, and the request is checked again against version 2
    add_elsewhere(ADDED + '\n[[fields]]\nname = "note"\nlabel = "备注"\ncode = "KZ_BZ"\nmax_length = 50\n')
    with pytest.raises(InvalidInputError) as refused:
        issue(body)
    assert refused.value.field == "fields.note"
    body["fields"]["note"] = "新增字段"
    assert issue(body).type_version == 2


def test_the_catalogue_marker_moves_when_a_lower_id_commits_last(service) -> None:
    """On PostgreSQL two versions recorded at once may commit in the other order than their ids:
    a reader between the commits sees the higher id first. The marker must still move when the
    lower one lands, or a process would keep issuing under the catalogue without it."""
    from sqlalchemy import func, insert

    from trustsvc.licences.type_store import catalogue_marker

    def record_copy(new_id: int, bump: int) -> None:
        with service.db.transaction() as s:
            row = s.execute(select(LicenceTypeVersionRecord).limit(1)).scalar_one()
            values = {c.name: getattr(row, c.key) for c in LicenceTypeVersionRecord.__table__.columns}
            s.execute(insert(LicenceTypeVersionRecord), [{**values, "id": new_id, "version": row.version + bump}])

    with service.db.reader() as s:
        top = s.execute(select(func.max(LicenceTypeVersionRecord.id))).scalar_one()
    record_copy(top + 10, 100)  # the later transaction's id, committed first
    with service.db.reader() as s:
        seen = catalogue_marker(s)
    record_copy(top + 5, 101)  # the earlier transaction's id, committed last
    with service.db.reader() as s:
        assert catalogue_marker(s) != seen
