"""Sample data for the licence tests: departments, holders and valid request bodies."""

from __future__ import annotations

from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.catalogue import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE

DEPT = "11320000MB0000001G"
OTHER_DEPT = "11320000MB0000002" + uscc_check_char("11320000MB0000002")
COMPANY = "91320100MA1" + "ABCDE" + "0"
COMPANY = COMPANY + uscc_check_char(COMPANY)


def id_card(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


PERSON = id_card("32010219900307123")


def business_body(**overrides: object) -> dict:
    body = {
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


def food_body(**overrides: object) -> dict:
    body = {
        "type": FOOD_BUSINESS_LICENCE.code,
        "holder": {"name": "李四", "id_type": "111", "id": PERSON},
        "fields": {
            "operator_name": "南京李四小吃店",
            "credit_code": COMPANY,
            "legal_representative": "李四",
            "domicile": "南京市秦淮区夫子庙1号",
            "premises": "南京市秦淮区夫子庙1号",
            "business_form": "餐饮服务经营者",
            "business_items": "热食类食品制售",
            "permit_number": "JY23201040000012",
            "supervisor": "南京市秦淮区市场监督管理局",
        },
        "valid_from": "2026-01-01",
        "valid_until": "2030-12-31",
    }
    body.update(overrides)
    return body


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}
