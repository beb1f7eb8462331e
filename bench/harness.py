"""Timing helpers shared by the benchmarks: median rates, pinning, and the result rows.

Why medians of short repeats: the machine has 2 cores and other work may run; a median of five
~0.5 s repeats is stable to a few percent, and every figure is reported as a ratio to a
reference measured in the same run, so a slower machine moves both sides together.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Result", "rate", "pin_to_one_core", "BENCH_CORE"]

BENCH_CORE = int(os.environ.get("TRUSTSVC_BENCH_CORE", str(max(0, (os.cpu_count() or 1) - 1))))


def pin_to_one_core() -> int:
    """Pin this process to one core (single-thread figures); returns the core used."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {BENCH_CORE})
    return BENCH_CORE


def rate(fn: Callable[[], object], *, seconds: float = 0.5, repeats: int = 5, batch: int | None = None) -> float:
    """Median operations per second of ``fn`` over ``repeats`` timed runs of about ``seconds``."""
    fn()  # warm caches and lazy imports outside the timed runs
    if batch is None:
        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < 0.05:
            fn()
            n += 1
        per_op = (time.perf_counter() - start) / n
        batch = max(1, int(seconds / per_op))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        rates.append(batch / (time.perf_counter() - start))
    return statistics.median(rates)


@dataclass(frozen=True)
class Result:
    """One figure of BENCHMARKS.md: a value, the reference it is compared with, and the target."""

    section: str
    name: str
    value: float
    unit: str
    reference: str = ""
    reference_value: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    previous: str = ""
    """The figure before the change being measured (a past BENCHMARKS.md), shown beside it."""

    @property
    def ratio(self) -> float | None:
        if self.reference_value in (None, 0):
            return None
        return self.value / self.reference_value  # type: ignore[operator]
