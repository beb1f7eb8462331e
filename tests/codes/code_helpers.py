"""Sample data and helpers for the service-code tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.catalogue import BUSINESS_LICENCE

DEPT = "11320000MB0000001G"
COMPANY = "91320100MA1" + "ABCDE" + "0"
COMPANY = COMPANY + uscc_check_char(COMPANY)


def business_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": BUSINESS_LICENCE.code,
        "holder": {"name": "江苏某某科技有限公司", "id_type": "001", "id": COMPANY},
        "fields": {
            "name": "江苏某某科技有限公司",
            "uscc": COMPANY,
            "entity_type": "有限责任公司",
            "legal_representative": "张三",
            "business_scope": "软件开发；信息技术咨询服务",
            "registered_capital": "500万元人民币",
            "established_on": "2020-05-01",
            "domicile": "南京市玄武区中山路1号",
        },
        "valid_from": "2020-05-01",
        "valid_until": None,
    }
    body.update(overrides)
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def checks_by_name(report: Any) -> dict[str, str]:
    data = report if isinstance(report, dict) else report.as_dict()
    return {c["name"]: c["result"] for c in data["checks"]}
