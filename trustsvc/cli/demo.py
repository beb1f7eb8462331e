"""What ``trustsvc demo`` (``make run``) adds to the demo region so there is something to look
at (README, "Two commands"): an issuer key for the demo department, written to a 0600 file, and one sample
营业执照. Both steps are idempotent: a key file that exists is kept, and the sample is issued
under the idempotency key ``demo-sample``, so a restart returns the licence issued before.
"""

from __future__ import annotations

from pathlib import Path

from hsm.soft import create_exclusive

from ..apikeys import Role, SystemActor, create_api_key
from ..context import TrustService
from ..formats.uscc import uscc_check_char
from ..licences import operations
from ..licences.catalogue import BUSINESS_LICENCE, DEMO_TYPES
from ..licences.service import LicenceRequest
from ..storage.models import LicenceRecord

__all__ = [
    "SAMPLE_IDEMPOTENCY_KEY",
    "SAMPLE_HOLDER_USCC",
    "sample_request",
    "ensure_sample_licence",
    "ensure_issuer_key",
]

SAMPLE_IDEMPOTENCY_KEY = "demo-sample"
SAMPLE_HOLDER_USCC = "91320102MA1NQ8R4X" + uscc_check_char("91320102MA1NQ8R4X")
"""A made-up company's credit code (passes the GB 32100 check; not a real registration)."""


def sample_request() -> LicenceRequest:
    """A realistic 营业执照 for a made-up Nanjing company."""
    name = "南京紫金山数字科技有限公司"
    return LicenceRequest(
        type_code=BUSINESS_LICENCE.code,
        holder_name=name,
        holder_id_type="001",
        holder_id=SAMPLE_HOLDER_USCC,
        fields={
            "name": name,
            "uscc": SAMPLE_HOLDER_USCC,
            "entity_type": "有限责任公司",
            "legal_representative": "王建国",
            "business_scope": "软件开发；信息系统集成服务；数据处理和存储支持服务；信息技术咨询服务"
            "（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
            "registered_capital": "1000万元人民币",
            "established_on": "2019-06-18",
            "domicile": "南京市玄武区珠江路88号",
        },
    )


def ensure_sample_licence(service: TrustService, department_uscc: str, *, actor: str) -> LicenceRecord:
    """The demo's sample licence: issued once (with its PDF file and static code), returned as
    it is on every later call."""
    issued = operations.issue(
        service,
        sample_request(),
        actor=SystemActor(actor),
        department_uscc=department_uscc,
        idempotency_key=SAMPLE_IDEMPOTENCY_KEY,
    )
    if issued.file_error is not None:
        raise issued.file_error
    return issued.record


def ensure_issuer_key(service: TrustService, key_file: Path, department_uscc: str, *, actor: str) -> bool:
    """Create an issuer key for the department (every demo licence type) and write it to
    ``key_file`` (mode 0600) unless that file exists. True when a key was created."""
    if key_file.exists():
        return False
    with service.db.transaction() as session:
        created = create_api_key(
            session,
            role=Role.ISSUER,
            actor=actor,
            department_uscc=department_uscc,
            licence_types=[t.code for t in DEMO_TYPES],
            label="demo issuer",
        )
        # Written inside the transaction: if the file cannot be written, no orphan key is stored.
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        create_exclusive(key_file, (created.token + "\n").encode("ascii"))
    return True
