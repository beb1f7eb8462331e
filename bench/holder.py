"""Holder presentations: creation and offline verification against the raw provider rates,
and how long a presentation's text (its QR code) grows with the licences it carries."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from typing import Any

from trustsvc.apikeys import SystemActor
from trustsvc.codes.material import write_code_cache
from trustsvc.context import TrustService
from trustsvc.federation.snapshot import load_snapshot_cache
from trustsvc.holder.common import code_signer
from trustsvc.holder.format import Disclosure, encode_presentation, sign_envelope
from trustsvc.holder.mso import make_mso_in_session, wallet_items
from trustsvc.holder.presentation import MAX_PRESENTATION_CHARS, make_presentation, presentation_request_from_json
from trustsvc.licences.catalogue import FOOD_BUSINESS_LICENCE
from trustsvc.licences.service import LicenceRequest, find_licence, issue_licence
from trustsvc.status_lists import current_status_list
from trustsvc.storage.models import utcnow
from trustsvc.verifier import verify_code

from .domain import COMPANY, DEPT, bench_service, licence_request
from .harness import Result, rate

__all__ = ["results"]

FIELDS = {
    "business": ["name", "uscc", "legal_representative", "established_on", "holder_name"],
    "food": ["operator_name", "permit_number", "business_form", "premises", "holder_id"],
}


def _food(n: int) -> LicenceRequest:
    return LicenceRequest(
        type_code=FOOD_BUSINESS_LICENCE.code,
        holder_name="江苏某某科技有限公司",
        holder_id_type="001",
        holder_id=COMPANY,
        fields={
            "operator_name": f"江苏某某科技有限公司第{n}食堂",
            "credit_code": COMPANY,
            "legal_representative": "张三",
            "domicile": "南京市玄武区中山路1号",
            "premises": f"南京市玄武区中山路{n}号",
            "business_form": "单位食堂",
            "business_items": "热食类食品制售",
            "permit_number": f"JY232010400{n:05d}",
            "supervisor": "南京市玄武区市场监督管理局",
        },
    )


def results(*, raw_sign: float, raw_verify: float, quick: bool = False) -> list[Result]:
    with bench_service() as svc:
        ids = [
            issue_licence(
                svc, licence_request(), principal_or_actor=SystemActor("bench"), department_uscc=DEPT, timestamp=False
            ).identifier
        ]
        ids += [
            issue_licence(
                svc, _food(n), principal_or_actor=SystemActor("bench"), department_uscc=DEPT, timestamp=False
            ).identifier
            for n in range(1, 5)
        ]
        current_status_list(svc, DEPT)
        chosen = [{"id": x, "fields": FIELDS["business" if i == 0 else "food"]} for i, x in enumerate(ids)]
        request = presentation_request_from_json(
            {"holder": {"id_type": "001", "id": COMPANY}, "purpose": "bench", "ttl": 900, "licences": chosen[:3]}
        )
        made = rate(lambda: make_presentation(svc, request, principal_or_actor=SystemActor("bench")))
        text = make_presentation(svc, request, principal_or_actor=SystemActor("bench")).text
        with tempfile.TemporaryDirectory(prefix="trustsvc-bench-holder-") as cache_dir:
            write_code_cache(svc, Path(cache_dir))
            cached = load_snapshot_cache(Path(cache_dir))
        first = verify_code(cached, text)
        if first.indication.value != "PASSED":
            raise RuntimeError(f"the bench presentation does not verify: {first.as_dict()}")
        offline = rate(lambda: verify_code(cached, text))
        sizes = _sizes(svc, chosen)
    rows = [
        Result(
            "Holder codes",
            "presentation made: 3 licences x 5 fields (region signature, one transaction)",
            made,
            "/s",
            "provider SM2 sign, 1 core",
            raw_sign,
        ),
        Result(
            "Holder codes",
            "presentation verified offline from an exported cache (4 signatures, 15 digests, 3 held status lists)",
            offline,
            "/s",
            "provider SM2 verify / 4 (the signatures checked), 1 core",
            raw_verify / 4,
        ),
    ]
    for n, chars in sizes.items():
        fits = chars <= MAX_PRESENTATION_CHARS
        rows.append(
            Result(
                "Holder codes",
                f"presentation text for {n} licence(s) x 5 fields"
                + ("" if fits else " (over a version-40 QR at level M: refused)"),
                chars,
                " chars",
                "QR version 40, level M",
                MAX_PRESENTATION_CHARS,
            )
        )
    return rows


def _sizes(svc: TrustService, chosen: list[dict[str, Any]]) -> dict[int, int]:
    """Text length for 1, 3 and 5 licences, signed as a presentation is (past the QR limit too)."""
    out = {}
    with svc.db.transaction() as session:
        parts = []
        for choice in chosen:
            kept = make_mso_in_session(svc, session, find_licence(session, str(choice["id"])))
            items = wallet_items(kept)
            parts.append((kept.mso, [Disclosure(f, *items[f]) for f in choice["fields"]]))
        signer = code_signer(session, utcnow())
        assert signer.key_ref is not None
        key = svc.keystore.signer(signer.key_ref)
        now = int(utcnow().timestamp())
        for n in (1, 3, 5):
            payload = encode_presentation(
                iss="320000",
                iat=now,
                exp=now + 120,
                nonce=secrets.token_bytes(16),
                purpose="bench",
                verifier=None,
                licences=parts[:n],
            )
            out[n] = len(sign_envelope(payload, signer=key, cert_der=signer.der))
    return out
