"""One wire format for times in every JSON response (trustsvc/times.py): an instant is RFC 3339
UTC to the second with ``Z`` (``2026-01-31T12:00:00Z``), a calendar day is ``YYYY-MM-DD``. The
test walks representative answers (licence JSON, lifecycle answers, codes, the holder's codes,
presentations, consents and uses, verification reports, seals, CAs) and checks every value that
looks like a time."""

from __future__ import annotations

import io
import re
from typing import Any

from holder_helpers import COMPANY, HOLDER, bearer

INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
LOOKS_LIKE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d|$)")


def _times(value: Any, path: str = "$") -> list[tuple[str, str]]:
    """Every (path, string) in ``value`` that looks like a date or an instant."""
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in _times(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in _times(v, f"{path}[{i}]")]
    if isinstance(value, str) and LOOKS_LIKE_TIME.match(value):
        return [(path, value)]
    return []


def _ok(resp, status: int = 200) -> Any:
    assert resp.status_code == status, resp.get_data(as_text=True)
    return resp.get_json()


def test_every_time_in_the_answers_has_one_shape(service, licences, client, keys) -> None:
    admin, wallet, verifier = bearer(keys["admin"]), bearer(keys["wallet"]), bearer(keys["verifier"])
    lid = licences.business
    answers: dict[str, Any] = {
        "licence": _ok(client.get(f"/api/v1/licences/{lid}", headers=admin)),
        "licences": _ok(client.get("/api/v1/licences", headers=admin)),
        "suspend": _ok(client.post(f"/api/v1/licences/{lid}/suspend", json={"reason": "核查"}, headers=admin)),
        "reinstate": _ok(client.post(f"/api/v1/licences/{lid}/reinstate", json={}, headers=admin)),
    }
    code = _ok(client.post(f"/api/v1/licences/{lid}/codes", headers=admin), 201)
    answers["code"] = code
    answers["code_report"] = _ok(client.post("/api/v1/verify", json={"code": code["code"]}))
    answers["holder_code"] = _ok(client.post("/api/v1/holder/codes", headers=wallet, json={"holder": HOLDER}), 201)
    answers["holder_licences"] = _ok(client.get(f"/api/v1/holder/licences?id_type=001&id={COMPANY}", headers=wallet))
    presentation = _ok(
        client.post(
            "/api/v1/holder/presentations",
            headers=wallet,
            json={
                "holder": HOLDER,
                "purpose": "开立对公账户",
                "ttl": 300,
                "licences": [{"id": lid, "fields": ["name", "uscc"]}],
            },
        ),
        201,
    )
    answers["presentation"] = presentation
    answers["presentation_report"] = _ok(
        client.post("/api/v1/verify", json={"code": presentation["code"], "purpose": "开立对公账户"}, headers=verifier)
    )
    answers["uses"] = _ok(client.get(f"/api/v1/holder/uses?id_type=001&id={COMPANY}", headers=wallet))
    pdf = client.get(answers["licence"]["links"]["file"], headers=admin)
    assert pdf.status_code == 200
    answers["pdf_report"] = _ok(client.post("/api/v1/verify", data={"file": (io.BytesIO(pdf.data), "licence.pdf")}))
    answers["seals"] = _ok(client.get("/api/v1/seals", headers=admin))
    answers["cas"] = _ok(client.get("/api/v1/ca"))

    seen = [hit for name, answer in answers.items() for hit in _times(answer, name)]
    bad = [(path, v) for path, v in seen if not (INSTANT.fullmatch(v) or DAY.fullmatch(v))]
    assert not bad, bad
    paths = {re.sub(r"\[\d+\]", "[]", path) for path, _ in seen}
    # the fields that gave microseconds or +00:00 before the one format
    for expected in (
        "licence.issued_at",
        "code.issued_at",
        "presentation_report.status_now.licences[].changed_at",
        "seals[].valid_from",
        "cas[].not_before",
    ):
        assert expected in paths, "\n".join(sorted(paths))
    assert DAY.fullmatch(answers["licence"]["valid_from"])  # calendar days stay days
    assert INSTANT.fullmatch(answers["licence"]["issued_at"])
