"""Service codes: offline verification against the raw provider verify, and QR rendering."""

from __future__ import annotations

import tempfile
from pathlib import Path

from trustsvc.codes.material import code_trust_from_db, load_code_cache, write_code_cache
from trustsvc.codes.offline import verify_code_offline
from trustsvc.codes.online import verify_code_online
from trustsvc.codes.render import code_png, read_code_from_image
from trustsvc.codes.service import static_code_text
from trustsvc.licences.service import issue_licence
from trustsvc.status_lists import current_status_list

from .domain import DEPT, bench_service, licence_request
from .harness import Result, rate

__all__ = ["results"]


def results(*, raw_sign: float, raw_verify: float, quick: bool = False) -> list[Result]:
    with bench_service() as svc:
        row = issue_licence(svc, licence_request(), principal_or_actor="bench", department_uscc=DEPT,
                            timestamp=False)
        text = static_code_text(svc, row.identifier)
        current_status_list(svc, DEPT)
        with tempfile.TemporaryDirectory(prefix="trustsvc-bench-cache-") as cache_dir:
            # what `trustsvc code cache DIR` exports and `trustsvc verify CODE --cache DIR` reads
            write_code_cache(svc, Path(cache_dir))
            material = load_code_cache(Path(cache_dir))
        first = verify_code_offline(text, material=material)
        if first.indication.value != "PASSED":
            raise RuntimeError(f"the bench code does not verify: {first.as_dict()}")
        offline = rate(lambda: verify_code_offline(text, material=material))
        local = code_trust_from_db(svc.db, status_lists=True)
        on_db = rate(lambda: verify_code_offline(text, material=local))
        online = rate(lambda: verify_code_online(svc.db, text, material=local))
        png = code_png(text)
        render = rate(lambda: code_png(text))
        decode = rate(lambda: read_code_from_image(png))
    return [
        Result("Service codes", "offline verification from an exported cache (signature, chain, held status list)",
               offline, "/s",
               "provider SM2 verify, 1 core", raw_verify, "≥ 0.85×", offline >= 0.85 * raw_verify),
        Result("Service codes", "offline verification with this machine's database as the material "
               "(revocation looked up per certificate)", on_db, "/s", "provider SM2 verify, 1 core", raw_verify),
        Result("Service codes", "online verification, anonymous (live status from the database)", online, "/s",
               "provider SM2 verify, 1 core", raw_verify),
        Result("Service codes", f"QR render to PNG ({len(text)}-character code)", render, "/s",
               "provider SM2 sign, 1 core", raw_sign),
        Result("Service codes", "QR decode from that PNG (zxing-cpp)", decode, "/s",
               "provider SM2 verify, 1 core", raw_verify),
    ]
