"""Sample holder data: one enterprise holding three licences from two departments."""

from __future__ import annotations

import datetime as dt
from typing import Any

from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.catalogue import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE

DEPT = "11320000MB0000001G"
OTHER_DEPT = "11320000MB0000002" + uscc_check_char("11320000MB0000002")
COMPANY = "91320100MA1" + "ABCDE" + "0"
COMPANY = COMPANY + uscc_check_char(COMPANY)
OTHER_COMPANY = "91320100MA1" + "FGHJK" + "0"
OTHER_COMPANY = OTHER_COMPANY + uscc_check_char(OTHER_COMPANY)
HOLDER = {"id_type": "001", "id": COMPANY}


def business_body(holder_id: str = COMPANY, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": BUSINESS_LICENCE.code,
        "holder": {"name": "江苏某某科技有限公司", "id_type": "001", "id": holder_id},
        "fields": {
            "name": "江苏某某科技有限公司",
            "uscc": holder_id,
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


def food_body(holder_id: str = COMPANY, permit: str = "JY23201040000012", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": FOOD_BUSINESS_LICENCE.code,
        "holder": {"name": "江苏某某科技有限公司", "id_type": "001", "id": holder_id},
        "fields": {
            "operator_name": "江苏某某科技有限公司食堂",
            "credit_code": holder_id,
            "legal_representative": "张三",
            "domicile": "南京市玄武区中山路1号",
            "premises": "南京市玄武区中山路1号",
            "business_form": "单位食堂",
            "business_items": "热食类食品制售",
            "permit_number": permit,
            "supervisor": "南京市玄武区市场监督管理局",
        },
        "valid_from": "2026-01-01",
        "valid_until": "2030-12-31",
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
