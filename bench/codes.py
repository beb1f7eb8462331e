"""Service codes: offline verification against the raw provider verify, and QR rendering."""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hsm import DEFAULT_SM2_ID
from hsm.provider import get_provider
from trustsvc.apikeys import SystemActor
from trustsvc.codes.material import write_code_cache
from trustsvc.codes.render import code_png, read_code_from_image
from trustsvc.codes.service import static_code_text
from trustsvc.federation.snapshot import build_snapshot, load_snapshot_cache
from trustsvc.licences.service import issue_licence
from trustsvc.status_lists import current_status_list
from trustsvc.verifier import OnlineCodes, verify_code
from trustsvc.verifier import _decode_cached as decode_cache

from .domain import DEPT, bench_service, licence_request
from .harness import Result, rate

__all__ = ["results"]

_MESSAGE = bytes(range(256))  # as bench.crypto's provider figures


def _per_second(fn: Callable[[], object], batch: int) -> float:
    start = time.perf_counter()
    for _ in range(batch):
        fn()
    return batch / (time.perf_counter() - start)


def alternating(
    fn: Callable[[], object], reference: Callable[[], object], *, seconds: float = 0.25, rounds: int = 11
) -> tuple[float, float]:
    """Median rates of ``fn`` and ``reference`` timed in turns (fn, reference, fn, …): on a
    machine shared with other work, load that comes and goes then weighs on both alike, where
    a reference timed minutes earlier can make the ratio say anything."""
    batches = []
    for f in (fn, reference):
        f()
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < 0.05:
            f()
            n += 1
        batches.append(max(1, int(seconds * n / (time.perf_counter() - start))))
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(_per_second(fn, batches[0]))
        theirs.append(_per_second(reference, batches[1]))
    return statistics.median(ours), statistics.median(theirs)


def _raw_verify() -> Callable[[], object]:
    """The provider SM2 verification bench.crypto times (256-byte message, with Z)."""
    provider = get_provider("openssl")
    key = provider.generate()
    public = provider.load_public(key.spki())
    signature = key.sign(_MESSAGE, DEFAULT_SM2_ID)
    return lambda: public.verify(_MESSAGE, signature, DEFAULT_SM2_ID)


def results(*, raw_sign: float, raw_verify: float, quick: bool = False) -> list[Result]:
    with bench_service() as svc:
        row = issue_licence(
            svc, licence_request(), principal_or_actor=SystemActor("bench"), department_uscc=DEPT, timestamp=False
        )
        text = static_code_text(svc, row.identifier)
        current_status_list(svc, DEPT)
        with tempfile.TemporaryDirectory(prefix="trustsvc-bench-cache-") as cache_dir:
            # what `trustsvc code cache DIR` exports and `trustsvc verify CODE --cache DIR` reads
            write_code_cache(svc, Path(cache_dir))
            cached = load_snapshot_cache(Path(cache_dir))
        first = verify_code(cached, text)
        if first.indication.value != "PASSED":
            raise RuntimeError(f"the bench code does not verify: {first.as_dict()}")

        # Each code decoded afresh: the verifier remembers decoded codes, and a bench verifying
        # one code again and again would measure that memory instead of a new code's decoding.
        def fresh(snapshot: object, **kw: object) -> Callable[[], object]:
            def one() -> object:
                decode_cache.cache_clear()
                return verify_code(snapshot, text, **kw)  # type: ignore[arg-type]

            return one

        # timed in turns with the raw verification it is compared with (see alternating)
        offline, raw_beside = alternating(fresh(cached), _raw_verify())
        again = rate(lambda: verify_code(cached, text))  # one code verified again: decoding remembered
        local = build_snapshot(svc.db, grace=dt.timedelta(days=1))
        on_db = rate(fresh(local))
        online = rate(fresh(local, online=OnlineCodes(svc.db)))
        png = code_png(text)
        render = rate(lambda: code_png(text))
        decode = rate(lambda: read_code_from_image(png))
    return [
        Result(
            "Service codes",
            "offline verification from an exported cache (signature, chain, held status list)",
            offline,
            "/s",
            "provider SM2 verify, 1 core, timed in turns with it",
            raw_beside,
            "≥ 0.85×",
            offline >= 0.85 * raw_beside,
            note="each code decoded afresh",
            previous="2,437 /s, 0.543×",
        ),
        Result(
            "Service codes",
            "offline verification of one code again (its decoding remembered)",
            again,
            "/s",
            "provider SM2 verify, 1 core",
            raw_verify,
        ),
        Result(
            "Service codes",
            "verification with this machine's trust snapshot (built from its database)",
            on_db,
            "/s",
            "provider SM2 verify, 1 core",
            raw_verify,
            previous="951 /s, 0.212× (trust material from the database)",
        ),
        Result(
            "Service codes",
            "online verification, anonymous (a static code: no database query)",
            online,
            "/s",
            "provider SM2 verify, 1 core",
            raw_verify,
            previous="759 /s, 0.169× (live status from the database)",
        ),
        Result(
            "Service codes",
            f"QR render to PNG ({len(text)}-character code)",
            render,
            "/s",
            "provider SM2 sign, 1 core",
            raw_sign,
        ),
        Result(
            "Service codes",
            "QR decode from that PNG (zxing-cpp)",
            decode,
            "/s",
            "provider SM2 verify, 1 core",
            raw_verify,
        ),
    ]
