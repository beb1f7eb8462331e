"""Every shipped licence type, driven only by what GET /api/v1/licence-types serves: a body built
from the type's JSON Schema is issued (201), its sealed PDF verifies PASSED and shows each field
label once; a body breaking each constraint in turn is a 422 naming the field and the
constraint; check characters and the holder entered once."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from licence_helpers import COMPANY, DEPT, PERSON, bearer, business_body
from pdf_tools import poppler_tool
from schema_bodies import body_from_schema, flip_check, violations

from trustsvc.licences.catalogue import BUSINESS_LICENCE, NATIONAL_TYPES


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the catalogue, not the database (and there are many)."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def served(client) -> list[dict[str, Any]]:
    resp = client.get("/api/v1/licence-types")
    assert resp.status_code == 200
    return resp.get_json()


def _squeeze(text: str) -> str:
    return "".join(text.split())


def label_counts(pdf: bytes, tmp_path: Path, labels: list[str], also_printed: list[str]) -> dict[str, int]:
    """How often each label appears in the PDF's text beyond its appearances inside the other
    printed strings (values, other labels): 1 means printed exactly once as a label."""
    pdftotext = poppler_tool("pdftotext")
    (tmp_path / "face.pdf").write_bytes(pdf)
    text = _squeeze(
        subprocess.run(
            [pdftotext, str(tmp_path / "face.pdf"), "-"], capture_output=True, text=True, encoding="utf-8", check=True
        ).stdout
    )
    out = {}
    for label in labels:
        inside = sum(_squeeze(s).count(label) for s in also_printed) + sum(
            other.count(label) for other in labels if other != label
        )
        out[label] = text.count(label) - inside
    return out


def test_the_catalogue_serves_30_types_of_both_holder_kinds_with_2020_12_schemas(served) -> None:
    assert len(served) >= 30
    assert {t["holder_kind"] for t in served} == {"organisation", "natural_person"}
    assert sum(t["holder_kind"] == "natural_person" for t in served) >= 10
    names = {t["name"] for t in served}
    for wanted in (
        "营业执照",
        "食品经营许可证",
        "机动车驾驶证",
        "机动车行驶证",
        "结婚证",
        "出生医学证明",
        "社会保障卡",
        "不动产权证书",
        "残疾人证",
        "教师资格证书",
        "医师执业证书",
        "护士执业证书",
        "道路运输经营许可证",
        "药品经营许可证",
        "特种设备使用登记证",
        "排污许可证",
        "建筑工程施工许可证",
        "安全生产许可证",
        "导游证",
        "律师执业证",
        "居住证",
    ):
        assert wanted in names, wanted
    rules = {t["validity"]["rule"] for t in served}
    assert rules == {"long_term", "fixed_years", "until_field", "none"}
    for t in served:
        Draft202012Validator.check_schema(t["schema"])
        assert t["schema"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        for f in t["fields"]:
            assert {"name", "label", "required", "type", "metadata_code"} <= set(f)
            if f["type"] == "enum":
                assert f["enum"]
            if f["type"] in ("string", "enum"):
                assert f["max_length"] >= f["min_length"] >= 1
    formats = {f.get("format") for t in served for f in t["fields"]}
    assert {"uscc", "gb11643", "date"} <= formats


def test_every_shipped_type_issues_from_its_served_schema_and_its_pdf_verifies(
    client, keys, seal, served, tmp_path: Path
) -> None:
    admin = bearer(keys["admin"])
    assert {t["code"] for t in served} >= {t.code for t in NATIONAL_TYPES}
    failures = []
    for t in served:
        body = body_from_schema(t["schema"], department=DEPT)
        assert Draft202012Validator(t["schema"]).is_valid(body)
        created = client.post("/api/v1/licences", json=body, headers=admin)
        if created.status_code != 201:
            failures.append((t["name"], created.status_code, created.get_json()))
            continue
        licence = created.get_json()
        pdf = client.get(licence["links"]["file"], headers=admin)
        assert pdf.status_code == 200, (t["name"], pdf.get_json())
        report = client.post("/api/v1/verify", data=pdf.data, content_type="application/pdf").get_json()
        if report["indication"] != "PASSED":
            failures.append(
                (
                    t["name"],
                    "verify",
                    report["sub_indication"],
                    [c for c in report["checks"] if c["result"] == "failed"],
                )
            )
        labels = [f["label"] for f in t["fields"]]
        printed = [str(v) for v in body["fields"].values()] + [t["name"], licence["holder"]["name"]]
        counts = label_counts(pdf.data, tmp_path, labels, printed)
        wrong = {label: n for label, n in counts.items() if n != 1}
        if wrong:
            failures.append((t["name"], "labels", wrong))
    assert not failures, failures


def test_each_constraint_broken_in_turn_is_a_422_naming_field_and_constraint(client, keys, served) -> None:
    admin = bearer(keys["admin"])
    failures = []
    cases = 0
    for t in served:
        good = body_from_schema(t["schema"], department=DEPT)
        for field, keyword, code, body in violations(t["schema"], good):
            cases += 1
            resp = client.post("/api/v1/licences", json=body, headers=admin)
            error = resp.get_json()["error"]
            named = [e for e in error.get("errors", []) if e["field"] == field]
            if (
                resp.status_code != 422
                or not named
                or named[0]["code"] != code
                or (keyword not in named[0]["message"] and code != "missing_field")
            ):
                failures.append((t["name"], field, keyword, resp.status_code, error))
    assert cases > 500
    assert not failures, failures[:5]


def test_wrong_check_characters_are_422(client, keys, seal) -> None:
    h = bearer(keys["admin"])
    body = business_body(department=DEPT)
    body["fields"]["uscc"] = flip_check(COMPANY, "uscc")
    resp = client.post("/api/v1/licences", json=body, headers=h)
    assert resp.status_code == 422
    assert {e["field"]: e["code"] for e in resp.get_json()["error"]["errors"]} == {"fields.uscc": "invalid_uscc"}
    holder = business_body(department=DEPT, holder={"name": "张三", "id_type": "111", "id": flip_check(PERSON, "gb")})
    resp = client.post("/api/v1/licences", json=holder, headers=h)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["errors"][0] == {
        "field": "holder.id",
        "code": "invalid_holder_id",
        "message": "the 公民身份号码 check digit does not match (GB 11643)",
    }
    driving = next(t for t in NATIONAL_TYPES if t.name == "机动车驾驶证")
    person = body_from_schema(driving.schema(), department=DEPT)
    person["fields"]["id_number"] = flip_check(person["fields"]["id_number"], "gb11643")
    resp = client.post("/api/v1/licences", json=person, headers=h)
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert (error["field"], error["code"]) == ("fields.id_number", "invalid_id_number")
    assert "GB 11643" in error["message"]


def test_a_business_licence_names_its_holder_once(client, keys, seal) -> None:
    h = bearer(keys["admin"])
    other = "91320100MA1" + "FGHJK" + "0"
    from trustsvc.formats.uscc import uscc_check_char

    other += uscc_check_char(other)
    mismatch = business_body(department=DEPT, holder={"name": "江苏某某科技有限公司", "id_type": "001", "id": other})
    resp = client.post("/api/v1/licences", json=mismatch, headers=h)
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert (error["field"], error["code"]) == ("holder.id", "holder_mismatch")
    assert "fields.uscc" in error["message"]
    renamed = business_body(department=DEPT, holder={"name": "另一家公司", "id_type": "001", "id": COMPANY})
    assert client.post("/api/v1/licences", json=renamed, headers=h).get_json()["error"]["code"] == "holder_mismatch"
    # taken from one place: the face
    once = business_body(department=DEPT)
    del once["holder"]
    created = client.post("/api/v1/licences", json=once, headers=h)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["holder"] == {"name": "江苏某某科技有限公司", "id_type": "001", "id": COMPANY}
    # a 个体工商户 held by its operator (a person) is entered in full, and printed
    person = business_body(department=DEPT, holder={"name": "张三丰", "id_type": "111", "id": PERSON})
    person["fields"]["entity_type"] = "个体工商户"
    made = client.post("/api/v1/licences", json=person, headers=h)
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["holder"]["id"] == PERSON
    no_id = copy.deepcopy(person)
    del no_id["holder"]["id"]
    missing = client.post("/api/v1/licences", json=no_id, headers=h)
    assert missing.status_code == 422 and missing.get_json()["error"]["field"] == "holder.id"


def test_the_openapi_document_carries_every_types_schema(client) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    refs = [r["$ref"] for r in schemas["LicenceRequest"]["oneOf"]]
    assert f"#/components/schemas/LicenceRequest.{BUSINESS_LICENCE.code}" in refs and len(refs) >= 30
    assert schemas[f"LicenceRequest.{BUSINESS_LICENCE.code}"]["properties"]["type"]["const"] == BUSINESS_LICENCE.code
    assert "/api/v1/licence-types/{code}" in doc["paths"]
