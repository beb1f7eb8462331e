"""The console dashboard's figures against counts taken straight from the database, after a
scripted mix of issue, change, suspend, reinstate, revoke, expiry and verification (keyed and
anonymous, codes and licence PDFs); and /verify
masking the holder exactly as the public licence page does (and never showing a revocation
reason). Through Flask's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import html
import io
import re

from console_helpers import PERSON_ID, business_form, csrf, login
from sqlalchemy import func, select, update

from trustsvc.apikeys import SystemActor
from trustsvc.licences.service import change_licence, reinstate_licence, revoke_licence, suspend_licence
from trustsvc.storage.models import AuditEventRecord, LicenceRecord

DEPT = "11320000MB0000001G"


def _text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def _issue(client, **overrides: str) -> str:
    resp = client.post("/console/licences/new", data=business_form(csrf(client, "/console/licences/new"), **overrides))
    assert resp.status_code == 303, _text(resp)[-2000:]
    return resp.headers["Location"].rsplit("/", 1)[1]


def _code(client, key: str, identifier: str) -> str:
    resp = client.get(f"/api/v1/licences/{identifier}/code", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_data(as_text=True).strip()


def _verify_keyed(client, key: str, code: str) -> str:
    resp = client.post(
        "/api/v1/verify", json={"code": code, "purpose": "test desk"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["indication"]


def _attr(page: str, selector_re: str) -> str:
    match = re.search(selector_re, page, re.S)
    assert match, selector_re
    return match.group(1)


def _by_id(page: str, element_id: str) -> str:
    return re.sub(r"<[^>]+>", "", _attr(page, rf'id="{element_id}"[^>]*>(.*?)</')).strip()


def test_dashboard_figures_equal_the_database(service, console_client, keys) -> None:
    client = console_client
    login(client, keys["issuer"])
    ids = [_issue(client) for _ in range(6)]
    changed = change_licence(
        service,
        ids[0],
        principal_or_actor=SystemActor("test"),
        fields={"business_scope": "餐饮服务；食品销售"},
        timestamp=False,
    ).identifier
    suspend_licence(service, ids[1], principal_or_actor=SystemActor("test"))
    suspend_licence(service, ids[2], principal_or_actor=SystemActor("test"), reason="核查中")
    reinstate_licence(service, ids[2], principal_or_actor=SystemActor("test"))
    revoke_licence(service, ids[3], principal_or_actor=SystemActor("test"), reason="申请注销")
    # one licence whose validity ended yesterday (China time): active in the row, expired now
    yesterday = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date() - dt.timedelta(days=1)
    with service.db.transaction() as s:
        s.execute(update(LicenceRecord).where(LicenceRecord.identifier == ids[5]).values(valid_until=yesterday))
    keyed = 0
    for identifier, times in ((changed, 2), (ids[4], 1), (ids[3], 1)):
        code = _code(client, keys["issuer"], identifier)
        for _ in range(times):
            _verify_keyed(client, keys["verifier"], code)
            keyed += 1
    # anonymous verifications count too (the API without a key, and the /verify page); a code
    # whose signature fails names no issuer and counts nothing
    code = _code(client, keys["issuer"], ids[4])
    assert client.post("/api/v1/verify", json={"code": code}).status_code == 200
    assert 'data-indication="PASSED"' in _text(client.post("/verify", data={"code": code}))
    forged = code[:-6] + ("AAAAAA" if not code.endswith("AAAAAA") else "BBBBBB")
    assert client.post("/api/v1/verify", json={"code": forged}).get_json()["indication"] != "PASSED"
    # a licence PDF counts too; one whose bytes were changed does not
    pdf = client.get(f"/api/v1/licences/{ids[4]}/file", headers={"Authorization": f"Bearer {keys['issuer']}"})
    assert pdf.status_code == 200
    good = client.post("/api/v1/verify", data={"file": (io.BytesIO(pdf.data), "licence.pdf")})
    assert good.get_json()["indication"] == "PASSED", good.get_json()
    cut = len(pdf.data) // 3
    bad_bytes = pdf.data[:cut] + bytes([pdf.data[cut] ^ 1]) + pdf.data[cut + 1 :]
    bad = client.post("/api/v1/verify", data={"file": (io.BytesIO(bad_bytes), "licence.pdf")})
    assert bad.get_json()["indication"] != "PASSED"
    anonymous = 3

    resp = client.get("/console")
    assert resp.status_code == 200, _text(resp)[-2000:]
    page = _text(resp)
    kinds = ("issued", "changed", "suspended", "reinstated", "revoked")
    shown = {k: int(_attr(page, rf'data-kind="{k}" data-month="(\d+)"')) for k in kinds}
    days90 = {k: int(_attr(page, rf'data-kind="{k}" data-month="\d+" data-days90="(\d+)"')) for k in shown}
    verified = int(_attr(page, r'data-kind="verified-here" data-days90="(\d+)"'))
    by_type = {}
    for row in re.finditer(r'<tr data-type="([^"]+)">(.*?)</tr>', page, re.S):
        by_type[row.group(1)] = {s: int(n) for s, n in re.findall(r'data-status="(\w+)">(\d+)<', row.group(2))}

    with service.db.reader() as s:
        dept_licences = select(LicenceRecord.identifier).where(LicenceRecord.department.has(uscc=DEPT))
        db_issued = s.scalar(select(func.count()).select_from(LicenceRecord).where(LicenceRecord.version == 1))
        db_changed = s.scalar(select(func.count()).select_from(LicenceRecord).where(LicenceRecord.version > 1))
        db_revoked = s.scalar(select(func.count()).select_from(LicenceRecord).where(LicenceRecord.status == "revoked"))

        def audited(action: str) -> int:
            return s.scalar(select(func.count()).select_from(AuditEventRecord).where(AuditEventRecord.action == action))

        db_keyed = s.scalar(
            select(func.count())
            .select_from(AuditEventRecord)
            .where(AuditEventRecord.action == "code.verify", AuditEventRecord.object_id.in_(dept_licences))
        )
        db_by_type: dict[str, dict[str, int]] = {}
        for type_code, status, until, n in s.execute(
            select(LicenceRecord.type_code, LicenceRecord.status, LicenceRecord.valid_until, func.count()).group_by(
                LicenceRecord.type_code, LicenceRecord.status, LicenceRecord.valid_until
            )
        ):
            status = "expired" if status == "active" and until is not None and until <= yesterday else status
            counts = db_by_type.setdefault(type_code, {})
            counts[status] = counts.get(status, 0) + n
        expected = {
            "issued": db_issued,
            "changed": db_changed,
            "suspended": audited("licence.suspend"),
            "reinstated": audited("licence.reinstate"),
            "revoked": db_revoked,
        }

    # the script's own tally
    assert expected == {"issued": 6, "changed": 1, "suspended": 2, "reinstated": 1, "revoked": 1}
    assert shown == expected and days90 == expected  # everything happened today, within this month
    assert db_keyed == keyed == 4 and verified == keyed + anonymous
    assert {t: {s: n for s, n in c.items() if n} for t, c in by_type.items()} == db_by_type
    assert sum(c.get("expired", 0) for c in db_by_type.values()) == 1
    # the daily table holds the same numbers on today's row
    today = _attr(page, r'<tr data-day="([0-9-]+)">')
    row = _attr(page, rf'<tr data-day="{today}">(.*?)</tr>')
    assert {k: int(n) for k, n in re.findall(r'data-kind="([\w-]+)">(\d+)<', row)} == {
        **expected,
        "verified-here": keyed + anonymous,
    }


def test_verify_masks_like_the_public_page_and_hides_the_reason(service, console_client, keys) -> None:
    client = console_client
    login(client, keys["issuer"])
    person = _issue(client)  # 张三丰, 公民身份号码
    for identifier in (person,):  # the code carries the holder's full name; the page masks it
        code = _code(client, keys["issuer"], identifier)
        verify_page = _text(client.post("/verify", data={"code": code}))
        public = _text(client.get(f"/licences/{identifier}"))
        assert _attr(verify_page, r'data-indication="(\w+)"') == "PASSED"
        assert _by_id(verify_page, "holder-name") == _by_id(public, "holder-name") == "张**"
        assert (
            _by_id(verify_page, "holder-id") == _by_id(public, "holder-id") == PERSON_ID[:6] + "*" * 8 + PERSON_ID[-4:]
        )
        # the full name appears nowhere on either page (the business's name on its face is not shown)
        assert "张三丰" not in verify_page.replace("南京张三丰小吃店", "") and "张三丰" not in public

    revoke_licence(service, person, principal_or_actor=SystemActor("test"), reason="持证人张三丰本人申请注销")
    verify_page = _text(client.post("/verify", data={"code": code}))
    public = _text(client.get(f"/licences/{person}"))
    assert _attr(verify_page, r'data-indication="(\w+)"') == "FAILED"
    assert "证照已被发证机关注销" in verify_page
    assert "本人申请注销" not in verify_page and "本人申请注销" not in public
    assert _by_id(verify_page, "holder-name") == _by_id(public, "holder-name")
