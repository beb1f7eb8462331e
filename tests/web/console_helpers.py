"""Driving the console through Flask's test client: CSRF tokens, log-in, form bodies."""

from __future__ import annotations

import re
from typing import Any

from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.catalogue import BUSINESS_LICENCE

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
COMPANY = "91320100MA1ABCDE0" + uscc_check_char("91320100MA1ABCDE0")


def id_card(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


PERSON_ID = id_card("32010219880512301")


def csrf(client: Any, path: str = "/console/login") -> str:
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: Any, key: str) -> Any:
    return client.post("/console/login", data={"csrf_token": csrf(client), "api_key": key})


def business_form(token: str, **overrides: str) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "type": BUSINESS_LICENCE.code,
        "idempotency_key": "",
        "holder.name": "张三丰",
        "holder.id_type": "111",
        "holder.id": PERSON_ID,
        "fields.name": "南京张三丰小吃店",
        "fields.uscc": COMPANY,
        "fields.entity_type": "个体工商户",
        "fields.legal_representative": "张三丰",
        "fields.business_scope": "餐饮服务",
        "fields.registered_capital": "",
        "fields.established_on": "2021-03-01",
        "fields.domicile": "南京市秦淮区夫子庙1号",
        "valid_from": "",
        "valid_until": "",
    }
    form.update(overrides)
    return form


WAIT = 30
"""Seconds: an upper bound for browser page loads and waits, not a timing assertion."""
