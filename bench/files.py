"""Licence files: PDF and OFD, each render + SM2 seal/sign + TSA + store, measured per licence;
and ``trustsvc files make`` making PDFs for licences that have none, with two worker processes."""

from __future__ import annotations

import time

from trustsvc.apikeys import SystemActor
from trustsvc.context import TrustService
from trustsvc.licences.files import OFD_MEDIA_TYPE, PDF_MEDIA_TYPE, ensure_licence_file
from trustsvc.licences.render import render_licence_pdf  # noqa: F401  (imported so the font loads outside the timing)
from trustsvc.licences.service import issue_licence

from .domain import DEPT, bench_service, licence_request, run_trustsvc
from .harness import Result

__all__ = ["results"]


_WORKERS = 2


def _files_make(svc: TrustService, count: int) -> float:
    """``trustsvc files make --workers 2`` over ``count`` licences without a file, as an operator
    runs it after an import: files per second from the command's start (its worker processes'
    start-up included) to its end."""
    made = run_trustsvc(svc, "files", "make", "--workers", str(_WORKERS), "--limit", str(count), timeout=900)
    if made["made"] != count or made["failed"]:
        raise RuntimeError(f"files make did not make every file: {made}")
    return float(made["made"]) / float(made["seconds"])


def results(*, raw_sign: float, raw_verify: float, quick: bool = False) -> list[Result]:
    n = 20 if quick else 60
    pool_n = 60 if quick else 400
    rates: dict[str, float] = {}
    with bench_service() as svc:
        rows = [
            issue_licence(
                svc, licence_request(), principal_or_actor=SystemActor("bench"), department_uscc=DEPT, timestamp=False
            )
            for _ in range(2 * n + 2)
        ]
        for media_type, batch in ((PDF_MEDIA_TYPE, rows[: n + 1]), (OFD_MEDIA_TYPE, rows[n + 1 :])):
            ensure_licence_file(svc, batch[0].identifier, actor="bench", media_type=media_type)  # warm: font, seal
            start = time.perf_counter()
            for row in batch[1:]:
                ensure_licence_file(svc, row.identifier, actor="bench", media_type=media_type)
            rates[media_type] = n / (time.perf_counter() - start)
        for _ in range(pool_n):
            issue_licence(
                svc, licence_request(), principal_or_actor=SystemActor("bench"), department_uscc=DEPT, timestamp=False
            )
        pool = _files_make(svc, pool_n)
    pdf, ofd = rates[PDF_MEDIA_TYPE], rates[OFD_MEDIA_TYPE]
    return [
        Result(
            "Licence files",
            "PDF: render, static code QR, SM2 sign via pyHanko, TSA token, store",
            pdf,
            "/s",
            "provider SM2 sign, 1 core",
            raw_sign,
            "≥ 25/s",
            pdf >= 25,
            note=f"{n} licences, one each",
        ),
        Result(
            "Licence files",
            "OFD: render, static code QR, font subset, SES seal (SM2) over Signature.xml, TSA token, store",
            ofd,
            "/s",
            "PDF rate (same run)",
            pdf,
            "≥ PDF rate",
            ofd >= pdf,
            note=f"{n} licences, one each",
        ),
        Result(
            "Licence files",
            f"PDFs made by `trustsvc files make --workers {_WORKERS}` (its processes' start-up included)",
            pool,
            "/s",
            "PDF rate, one core (same run)",
            pdf,
            "≥ 45/s",
            pool >= 45,
            note=f"{pool_n} licences without a file",
        ),
    ]
