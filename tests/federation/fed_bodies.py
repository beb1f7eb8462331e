"""Licence request bodies for the federation tests (one of each demo type)."""

from __future__ import annotations

from typing import Any

from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.catalogue import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE

_COMPANY = "91320100MA1ABCDE0" + uscc_check_char("91320100MA1ABCDE0")


def _id_card(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def business_body() -> dict[str, Any]:
    return {
        "type": BUSINESS_LICENCE.code,
        "holder": {"name": "某某科技有限公司", "id_type": "001", "id": _COMPANY},
        "fields": {
            "name": "某某科技有限公司",
            "uscc": _COMPANY,
            "entity_type": "有限责任公司",
            "legal_representative": "张三",
            "business_scope": "软件开发",
            "established_on": "2020-05-01",
            "domicile": "某市某区某路1号",
        },
        "valid_from": "2020-05-01",
        "valid_until": None,
    }


def food_body() -> dict[str, Any]:
    return {
        "type": FOOD_BUSINESS_LICENCE.code,
        "holder": {"name": "李四", "id_type": "111", "id": _id_card("32010219900307123")},
        "fields": {
            "operator_name": "李四小吃店",
            "credit_code": _COMPANY,
            "legal_representative": "李四",
            "domicile": "某市某区某路2号",
            "premises": "某市某区某路2号",
            "business_form": "餐饮服务经营者",
            "business_items": "热食类食品制售",
            "permit_number": "JY23201040000012",
            "supervisor": "某区市场监督管理局",
        },
        "valid_from": "2026-01-01",
        "valid_until": "2030-12-31",
    }
