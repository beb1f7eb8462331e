"""Licence files: PDF render + SM2 sign (pyHanko) + TSA, measured per licence."""

from __future__ import annotations

import time

from trustsvc.licences.files import ensure_licence_file
from trustsvc.licences.render import render_licence_pdf  # noqa: F401  (imported so the font loads outside the timing)
from trustsvc.licences.service import issue_licence

from .domain import DEPT, bench_service, licence_request
from .harness import Result

__all__ = ["results"]


def results(*, raw_sign: float, raw_verify: float, quick: bool = False) -> list[Result]:
    n = 20 if quick else 60
    with bench_service() as svc:
        rows = [issue_licence(svc, licence_request(), principal_or_actor="bench", department_uscc=DEPT,
                              timestamp=False) for _ in range(n + 1)]
        ensure_licence_file(svc, rows[0].identifier, actor="bench")  # first one loads the font
        start = time.perf_counter()
        for row in rows[1:]:
            ensure_licence_file(svc, row.identifier, actor="bench")
        per_second = n / (time.perf_counter() - start)
    return [Result("Licence files", "PDF: render, static code QR, SM2 sign via pyHanko, TSA token, store", per_second,
                   "/s", "provider SM2 sign, 1 core", raw_sign, "≥ 25/s", per_second >= 25,
                   note=f"{n} licences, one each")]
