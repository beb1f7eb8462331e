"""The business-licence request body the API, key-lifecycle and signing-refusal tests issue
(one copy instead of one per suite)."""

from __future__ import annotations

from typing import Any

from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.catalogue import BUSINESS_LICENCE

COMPANY = "91320100MA1ABCDE0" + uscc_check_char("91320100MA1ABCDE0")


def business_body(**extra: Any) -> dict[str, Any]:
    """A valid 营业执照 request for :data:`COMPANY`; ``extra`` keys are added or replace."""
    return {
        "type": BUSINESS_LICENCE.code,
        "holder": {"name": "江苏某某科技有限公司", "id_type": "001", "id": COMPANY},
        "fields": {
            "name": "江苏某某科技有限公司",
            "uscc": COMPANY,
            "entity_type": "有限责任公司",
            "legal_representative": "张三",
            "business_scope": "软件开发",
            "registered_capital": "500万元人民币",
            "established_on": "2020-05-01",
            "domicile": "南京市玄武区中山路1号",
        },
        "valid_from": "2020-05-01",
        "valid_until": None,
        **extra,
    }
