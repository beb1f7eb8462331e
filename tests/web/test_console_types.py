"""The console's issue form is built from the type's served JSON Schema: a select for each enum,
date inputs, number inputs with their range, patterns and Chinese labels; the holder parts the
face already names may be left empty."""

from __future__ import annotations

import html
import re

from console_helpers import csrf, login

from trustsvc.licences.catalogue import NATIONAL_TYPES
from trustsvc.licences.service import get_licence

DRIVING = next(t for t in NATIONAL_TYPES if t.name == "机动车驾驶证")
BIRTH = next(t for t in NATIONAL_TYPES if t.name == "出生医学证明")


def _page(client, code: str) -> str:
    resp = client.get(f"/console/licences/new?type={code}")
    assert resp.status_code == 200
    return html.unescape(resp.get_data(as_text=True))


def test_the_form_follows_the_schema_of_a_natural_persons_type(console_client, keys) -> None:
    login(console_client, keys["admin"])
    page = _page(console_client, DRIVING.code)
    schema = DRIVING.schema()["properties"]["fields"]["properties"]
    for name, prop in schema.items():
        assert f'id="fields.{name}"' in page and prop["title"] in page
    assert '<select id="fields.vehicle_class" name="fields.vehicle_class"' in page
    assert all(f'<option value="{v}"' in page for v in schema["vehicle_class"]["enum"])
    assert '<input type="date" id="fields.birth_date"' in page
    assert re.search(r'id="fields.id_number"[^>]*pattern="\^\[1-9\]\[0-9\]\{16\}\[0-9X\]\$"', page)
    assert re.search(r'id="fields.archive_number"[^>]*pattern="\^\[0-9\]\{12\}\$"', page)
    assert "档案编号 <span" in page  # optional
    assert "可不填" in page and "取自「姓名」" in page and "取自「证号」" in page
    assert '<option value="111" selected>公民身份号码 (111)</option>' in page  # only the type's document types
    assert '<option value="001"' not in page.split('id="holder.id_type"')[1].split("</select>")[0]
    birth = _page(console_client, BIRTH.code)
    assert re.search(r'<input type="number" id="fields.weight_g"[^>]*min="300"[^>]*max="7000"', birth)


def test_a_licence_issued_through_the_form_takes_its_holder_from_the_face(console_client, keys, service) -> None:
    login(console_client, keys["admin"])
    token = csrf(console_client, f"/console/licences/new?type={DRIVING.code}")
    fields = {f"fields.{f.name}": str(f.example) for f in DRIVING.fields if f.example is not None}
    form = {
        "csrf_token": token,
        "type": DRIVING.code,
        "idempotency_key": "",
        "department": "11320000MB0000001G",
        "holder.name": "",
        "holder.id_type": "111",
        "holder.id": "",
        "valid_from": "",
        "valid_until": "",
        **fields,
    }
    resp = console_client.post("/console/licences/new", data=form)
    assert resp.status_code == 303, html.unescape(resp.get_data(as_text=True))[-3000:]
    ident = resp.headers["Location"].rsplit("/", 1)[-1]
    row = get_licence(service, ident)
    assert (row.holder_name, row.holder_id) == (fields["fields.name"], fields["fields.id_number"])
    bad = console_client.post(
        "/console/licences/new",
        data={
            **form,
            "fields.id_number": fields["fields.id_number"][:-1]
            + ("0" if fields["fields.id_number"][-1] != "0" else "1"),
            "idempotency_key": "other",
        },
    )
    assert bad.status_code == 422
    assert 'id="err-fields.id_number-1"><code class="error-code">invalid_id_number<' in bad.get_data(as_text=True)
