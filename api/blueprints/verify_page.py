"""The public ``/verify`` page: scan a service code with the camera (BarcodeDetector where the
browser has it), upload a photo (decoded here with zxing-cpp), or paste a code; the verdict in
Chinese with English alongside, with its reasons.

Anonymous: it verifies with the region verifier and the process's trust snapshot, and writes
nothing (a dynamic code is not used up here; a verifier key does that through the API).
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, make_response, render_template, request

from hsm.errors import TrustSvcError
from trustsvc.codes.render import read_code_from_image
from trustsvc.errors import InvalidInputError
from trustsvc.verifier import OnlineCodes, verify_code

from ..html import page_headers
from ..request import read_upload, service
from ..trust_snapshot import current_snapshot

bp = Blueprint("verify_page", __name__)

VERDICTS = {
    "PASSED": ("有效", "Valid"),
    "FAILED": ("无效", "Invalid"),
    "INDETERMINATE": ("无法确定", "Cannot be decided"),
}
REASONS = {
    "FORMAT_FAILURE": ("不是有效的服务码", "not a valid service code"),
    "SIG_CRYPTO_FAILURE": ("签名验证失败（可能被篡改）", "the signature does not verify (changed?)"),
    "EXPIRED": ("已过期", "expired"),
    "REVOKED": ("证照已注销或已被新版本取代", "the licence is revoked or superseded"),
    "ALREADY_USED": ("动态码已被使用", "this dynamic code was already used"),
    "NO_SIGNING_CERTIFICATE_FOUND": ("签发方未知", "unknown issuer (kid)"),
    "TRY_LATER": ("状态暂不可知", "status not known now"),
    "TRUST_LIST_STALE": ("信任材料已过期", "trust material is stale"),
}


def _page(**context: object) -> Response:
    nonce = secrets.token_urlsafe(16)
    resp = make_response(render_template("verify.html", nonce=nonce, verdicts=VERDICTS, reasons=REASONS,
                                         **context))
    resp.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "media-src 'self' blob:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    return page_headers(resp, private=True)


@bp.get("/verify")
def form() -> Response:
    return _page(report=None, error=None, code="")


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
        resp = _page(report=None, error=exc, code=code)
        resp.status_code = 422
        return resp
    # the region verifier, each code in its issuer's namespace (this region or a peer imported by pin)
    report = verify_code(current_snapshot(), code, online=OnlineCodes(service().db)).as_dict()
    return _page(report=report, error=None, code=code)
