"""The public ``/verify`` page: scan a service code with the camera (the browser's
BarcodeDetector where it reads QR codes, otherwise the vendored zxing-wasm decoder in
``api/static/vendor/zxing-wasm``), upload a photo (decoded here with zxing-cpp), or paste a
code; the verdict in Chinese with English alongside, in plain words.

Anonymous: it verifies with the region verifier and the process's trust snapshot, and writes
nothing (a dynamic code is not used up here; a verifier key does that through the API).

What it shows of the holder follows the public licence page (trustsvc.licences.masking): the
name masked by the same rule, the masked ID as the code carries it, and never the reason a
licence was revoked or suspended.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, Response, make_response, render_template, request

from hsm.errors import TrustSvcError
from trustsvc.codes.render import read_code_from_image
from trustsvc.errors import InvalidInputError
from trustsvc.licences.masking import ORGANISATION_ID_TYPE, PERSON_ID_TYPE, mask_holder_name
from trustsvc.verifier import OnlineCodes, verify_code

from ..html import page_headers
from ..request import read_upload, service
from ..trust_snapshot import current_snapshot
from ..verification_counts import count_verification
from .holder import page_view as holder_page_view

bp = Blueprint("verify_page", __name__)

VERDICTS = {
    "PASSED": ("有效", "Valid"),
    "FAILED": ("无效", "Invalid"),
    "INDETERMINATE": ("无法确认", "Cannot be confirmed"),
}
REASONS = {
    "FORMAT_FAILURE": ("这不是有效的电子证照服务码。", "This is not a valid licence service code."),
    "SIG_CRYPTO_FAILURE": (
        "签名核对不上：服务码被改动过，或不是由发证机关签发的。",
        "The signature does not match: the code was altered or not signed by the issuer.",
    ),
    "SIG_CONSTRAINTS_FAILURE": ("签发方无权签发这类证照。", "The issuer may not issue this kind of licence."),
    "EXPIRED": ("已过期。", "It has expired."),
    "REVOKED": ("证照已被发证机关注销或由新版本取代。", "The licence was revoked or replaced by a newer version."),
    "ALREADY_USED": (
        "这个动态码已经用过，请持证人重新出示。",
        "This one-time code was already used; ask for a new one.",
    ),
    "NO_SIGNING_CERTIFICATE_FOUND": (
        "本服务不认识签发这张服务码的机构。",
        "The issuer of this code is not known here.",
    ),
    "NO_CERTIFICATE_CHAIN_FOUND": (
        "签发方的证书不能追溯到受信任的根证书。",
        "The issuer's certificate does not lead to a trusted root.",
    ),
    "TRY_LATER": (
        "暂时无法获知证照当前状态，请稍后再试。",
        "The licence's current status is not known now; try again later.",
    ),
    "TRUST_LIST_STALE": ("外地信任列表已过期，暂时无法确认。", "The other region's trust list is out of date."),
}
_STATUS_REASONS = {
    "active": (
        "证照有效，服务码由发证机关签发且未被改动。",
        "The licence is valid; the code is genuine and unchanged.",
    ),
    "revoked": ("证照已被发证机关注销。", "The issuing authority has revoked this licence."),
    "superseded": (
        "证照已变更，这是旧版本；请持证人出示新版本。",
        "The licence was changed; this is an old version. Ask for the current one.",
    ),
    "expired": ("证照已过有效期。", "The licence is past its validity period."),
    "suspended": ("证照已被发证机关中止，暂不能使用。", "The issuing authority has suspended this licence."),
}
_CODE_EXPIRED = ("服务码已过期，请持证人刷新后重新出示。", "The code has expired; ask the holder to show a fresh one.")
_PASSED = _STATUS_REASONS["active"]
_PERSON_ID_MASK = re.compile(r"[0-9]{6}\*{8}[0-9Xx]{4}")


def _holder_id_type(masked_id: str) -> str:
    """The holder's kind, read from the ID as the code carries it (already masked by its type's
    rule: 6+8+4 is a 公民身份号码), so a name is masked here as the public page masks it."""
    return PERSON_ID_TYPE if _PERSON_ID_MASK.fullmatch(masked_id or "") else ORGANISATION_ID_TYPE


def _plain_reason(report: dict[str, Any]) -> tuple[str, str]:
    status = (report.get("status_now") or {}).get("licence", {}).get("status")
    sub = report.get("sub_indication")
    if report["indication"] == "PASSED":
        return _PASSED
    if status in _STATUS_REASONS and status != "active":
        return _STATUS_REASONS[status]
    if sub == "EXPIRED":
        return _CODE_EXPIRED
    return REASONS.get(sub or "", ("未能核验这张服务码。", "The code could not be verified."))


def _when(text: str | None) -> dict[str, str] | None:
    """An ISO instant as China time for people (and the exact value for machines)."""
    if not text:
        return None
    try:
        at = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return {"iso": text, "shown": text}
    china = at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    return {"iso": text, "shown": china.strftime("%Y-%m-%d %H:%M") + "（北京时间 China time）"}


def _vouched(report: dict[str, Any], region_code: str) -> dict[str, Any] | None:
    """The anchor the code's signer led to: this region's own root, or a peer region's root
    vouched for by that region's signed trust list (sequence, dates, freshness)."""
    anchors = [t for t in report.get("trust_path", []) if t.get("trust_anchor")]
    if not anchors:
        return None
    a = anchors[-1]
    return {
        "region": a.get("region"),
        "name": a.get("name"),
        "peer": a.get("region") != region_code,
        "source": a.get("source"),
        "sequence": a.get("list_sequence"),
        "issued": _when(a.get("list_issued_at")),
        "next_update": _when(a.get("list_next_update")),
        "stale": bool(a.get("stale")),
    }


def _redact(text: str, secret: str | None) -> str:
    return text.replace(f" ({secret})", "").replace(secret, "…") if secret else text


def present(report: dict[str, Any], *, region_code: str, region_name: str) -> dict[str, Any]:
    """What the result card shows: the verdict, the reason in plain words, the licence as the
    public page would show it, the issuing region and who vouched for it. The status reason an
    issuer wrote is withheld here as on the public page (it may name the holder)."""
    obj = report.get("object") or {}
    display = obj.get("display") or {}
    status_now = (report.get("status_now") or {}).get("licence") or {}
    withheld = status_now.get("reason")
    vouched = _vouched(report, region_code)
    issuer_region = obj.get("issuer_region")
    region_label = (
        region_name
        if issuer_region == region_code
        else (vouched["name"] if vouched and vouched["region"] == issuer_region and vouched["name"] else None)
    )
    holder = None
    if display.get("h"):
        holder = mask_holder_name(str(display["h"]), _holder_id_type(str(display.get("hid", ""))))
    return {
        "indication": report["indication"],
        "sub_indication": report.get("sub_indication"),
        "verdict": VERDICTS[report["indication"]],
        "reason": _plain_reason(report),
        "licence": obj.get("licence"),
        "type_name": display.get("n"),
        "holder": holder,
        "holder_id": display.get("hid"),
        "issuer_name": display.get("o"),
        "issuer_uscc": obj.get("issuer"),
        "issuer_region": issuer_region,
        "issuer_region_name": region_label,
        "vouched": vouched,
        "status": status_now.get("status"),
        "code_type": obj.get("code_type"),
        "issued_at": _when(obj.get("issued_at")),
        "expires_at": _when(obj.get("expires_at")),
        "message": _redact(report.get("message") or "", withheld),
        "checks": [{**c, "detail": _redact(str(c.get("detail", "")), withheld)} for c in report.get("checks", [])],
        "warnings": [_redact(str(w), withheld) for w in report.get("warnings", [])],
        "holder_view": holder_page_view(obj),  # a presentation's fields, or a holder code (trustsvc.holder)
    }


def _page(status: int = 200, **context: object) -> Response:
    resp = make_response(render_template("verify.html", **context), status)
    # the scanner and its WebAssembly decoder are served from here; nothing inline
    return page_headers(resp, private=True, scripts=True, wasm=True)


@bp.get("/verify")
def form() -> Response:
    return _page(result=None, error=None, code="")


@bp.post("/verify")
def submit() -> Response:
    code = (request.form.get("code") or "").strip()
    try:
        photo = read_upload("photo") if request.files else None
        if photo:
            code = read_code_from_image(photo)
        if not code:
            raise InvalidInputError("paste a code or choose a photo of one", code="nothing_to_verify")
    except TrustSvcError as exc:
        return _page(422, result=None, error=exc, code=code)
    # the region verifier, each code in its issuer's namespace (this region or a peer imported by pin)
    report = verify_code(current_snapshot(), code, online=OnlineCodes(service().db)).as_dict()
    count_verification(report)
    region = service().config.region
    result = present(report, region_code=region.code if region else "", region_name=region.name if region else "")
    return _page(result=result, error=None, code=code, via=request.form.get("via", ""))
