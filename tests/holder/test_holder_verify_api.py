"""Presentations and holder codes through the region verifier: POST /api/v1/verify (online:
live status, single use, the holder's record), the public /verify page (disclosed and withheld
fields), and `trustsvc verify` (offline: this machine's database, or an exported cache)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from holder_helpers import COMPANY, HOLDER, bearer

from trustsvc.cli import cli

PURPOSE = "开立对公账户"


def _present(client, keys, licences, **extra):
    resp = client.post(
        "/api/v1/holder/presentations",
        headers=bearer(keys["wallet"]),
        json={
            "holder": HOLDER,
            "purpose": PURPOSE,
            "ttl": 300,
            **extra,
            "licences": [
                {"id": licences.business, "fields": ["name", "uscc"]},
                {"id": licences.food, "fields": ["permit_number"]},
            ],
        },
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["code"]


def test_post_verify_uses_a_presentation_once_and_records_it_for_the_holder(service, licences, client, keys):
    code = _present(client, keys, licences)
    anonymous = client.post("/api/v1/verify", json={"code": code}).get_json()
    assert anonymous["indication"] == "PASSED", anonymous["message"]
    assert anonymous["object"]["code_type"] == "presentation"
    first, second = (
        client.post(
            "/api/v1/verify", headers=bearer(keys["verifier"]), json={"code": code, "purpose": PURPOSE}
        ).get_json()
        for _ in range(2)
    )
    assert first["indication"] == "PASSED", first["message"]
    business = first["object"]["licences"][0]
    assert business["disclosed"] == {"name": "江苏某某科技有限公司", "uscc": COMPANY}
    assert "business_scope" in business["withheld"] and business["labels"]["uscc"] == "统一社会信用代码"
    assert (second["indication"], second["sub_indication"]) == ("FAILED", "ALREADY_USED")
    uses = client.get(f"/api/v1/holder/uses?id_type=001&id={COMPANY}", headers=bearer(keys["wallet"])).get_json()
    assert [(u["kind"], u["outcome"], u["reason"]) for u in uses["items"]] == [
        ("presentation", "refused", "ALREADY_USED"),
        ("presentation", "granted", None),
    ]


def test_the_verify_page_shows_disclosed_fields_and_names_the_withheld(service, licences, client, keys):
    page = client.post("/verify", data={"code": _present(client, keys, licences)}).get_data(as_text=True)
    assert 'data-indication="PASSED"' in page and 'id="presentation"' in page
    assert 'data-field="uscc"' in page and COMPANY in page
    assert "未出示 Withheld" in page and "经营范围" in page  # business_scope is named, not shown
    assert "软件开发" not in page
    holder = client.post("/api/v1/holder/codes", headers=bearer(keys["wallet"]), json={"holder": HOLDER})
    page = client.post("/verify", data={"code": holder.get_json()["code"]}).get_data(as_text=True)
    assert 'id="holder"' in page and "营业执照" in page and COMPANY not in page


def test_trustsvc_verify_checks_a_presentation_offline(service, service_env, licences, client, keys, tmp_path):
    code = _present(client, keys, licences)
    result = CliRunner().invoke(cli, ["verify", code, "--json"], env=service_env)
    report = json.loads(result.output)
    assert result.exit_code == 0, report["message"]
    assert report["object"]["licences"][1]["disclosed"] == {"permit_number": "JY23201040000012"}
    assert any("single use" in w for w in report["warnings"])
    out = CliRunner().invoke(cli, ["code", "cache", str(tmp_path / "cache")], env=service_env)
    assert out.exit_code == 0, out.output
    cached = CliRunner().invoke(cli, ["verify", code, "--json", "--cache", str(tmp_path / "cache")], env=service_env)
    assert cached.exit_code == 0, cached.output
    assert json.loads(cached.output)["status_now"]["trust"]["source"].startswith("cache ")
