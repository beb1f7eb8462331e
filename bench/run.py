"""``make bench``: every figure of issue 8 against its reference in the same run, into BENCHMARKS.md.

Run as ``python -m bench.run [--quick] [--only SECTION,...] [--out BENCHMARKS.md]``. Single-thread
figures are pinned to one core; the HTTP figures use both (gunicorn, and the load generator in a
separate process).
"""

from __future__ import annotations

import argparse
import importlib
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .harness import Result, pin_to_one_core

SECTIONS = ("crypto", "verification", "issuance", "files", "codes", "holder", "http")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _openssl_version() -> str:
    try:
        return subprocess.run(["openssl", "version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "openssl: not found"


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def render(results: list[Result], *, started: dt.datetime, seconds: float) -> str:
    lines = [
        "# BENCHMARKS",
        "",
        "Written by `make bench` (`python -m bench.run`); do not edit by hand. Each figure is set against a",
        "reference measured in the same run, so the ratio, not the absolute number, is what carries over",
        "between machines.",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC; run took {seconds:,.0f} s",
        f"- Machine: {os.cpu_count()} × {_cpu_model()}, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; {_openssl_version()}",
        "- Single-thread figures pinned to one core; medians of 5 runs of about 0.5 s unless noted.",
        "",
    ]
    section = None
    for r in results:
        if r.section != section:
            section = r.section
            lines += ["", f"## {section}", "",
                      "| figure | value | reference (same run) | ratio | target | met |",
                      "|---|---:|---|---:|---|---|"]
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else ""
        ref = f"{r.reference} = {_fmt(r.reference_value)}" if r.reference_value is not None else r.reference
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        value = "—" if r.note and r.value == 0 and not r.unit else f"{_fmt(r.value)} {r.unit}".strip()
        name = r.name + (f" ({r.note})" if r.note else "")
        lines.append(f"| {name} | {value} | {ref} | {ratio} | {r.target} | {met} |")
    lines += ["", ANALYSIS.strip(), ""]
    return "\n".join(lines) + "\n"


ANALYSIS = """
## Where the time goes (from profiles of these paths; see bench/ and the issue notes)

- **SM2 provider**: the ctypes binding over the system libcrypto pays one EVP context per call;
  both directions run at about 0.95× `openssl speed`.
- **Offline code verification**: one SM2 verification is the floor, and each code still gets
  one. Everything else comes from the trust snapshot (trustsvc.snapshot), worked out when it is
  built: each kid's public key and SM2 `Z` (the check hashes only `Z || message` and verifies the
  digest), the code signer's path (re-judged once per signing time and replayed), every status
  list decoded and checked once. Base45 is decoded with a few C-level standard-library
  operations (about 5 µs instead of 80 µs), and the report is assembled from precomputed text.
- **HTTP verify**: the trust material is the process's snapshot, rebuilt only when the
  trust-version counter moves (a poll every 0.5 s per worker); an anonymous verification of a
  static code or a licence PDF makes no database query (revocation and status come from the
  snapshot's records and decoded status lists).
- **Issuance**: two SM2 operations (the seal signature and its self-check) are ~0.5 ms of ~5 ms;
  the rest is 16 SQL statements through the ORM, the hash-chained audit log (every write takes
  the chain head's lock, which also serialises concurrent issuers) and one fsync per commit
  (SQLite `synchronous=FULL`, kept: an acknowledged licence survives power loss). Batched
  (group) commits are the lever the issue names; not built.
- **Licence PDFs**: reportlab drawing and zlib, two CMS SignedData (the signature and the TSA
  token) and the static code. Fixed so far: reportlab's C accelerator (`rl_accel`), asn1crypto
  structures frozen before SET OF sorting, no forced re-encoding when adding the time-stamp.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--out", default="BENCHMARKS.md")
    parser.add_argument("--quick", action="store_true", help="shorter HTTP runs (for trying the harness)")
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    results: list[Result] = []

    from . import crypto

    # The HTTP section spawns its own processes; pin only this process, after forking them is moot.
    core = pin_to_one_core()
    print(f"pinned to core {core}", file=sys.stderr)
    ref_sign, ref_verify = crypto.openssl_speed_sm2()
    provider = crypto.provider_results(ref_sign, ref_verify)
    raw_sign = next(r.value for r in provider if r.name.startswith("openssl: sign"))
    raw_verify = next(r.value for r in provider if r.name.startswith("openssl: verify"))
    if "crypto" in wanted:
        results += provider

    steps: dict[str, Callable[[], list[Result]]] = {}
    from . import domain

    steps["verification"] = lambda: domain.verification_results(raw_verify)
    steps["issuance"] = lambda: domain.issuance_results(raw_sign)
    def section(name: str) -> Callable[[], list[Result]]:
        def run() -> list[Result]:
            module = importlib.import_module(f"bench.{name}")
            found: list[Result] = module.results(raw_sign=raw_sign, raw_verify=raw_verify, quick=args.quick)
            return found
        return run

    for name in ("files", "codes", "holder", "http"):
        steps[name] = section(name)
    for name in SECTIONS[1:]:
        if name in wanted:
            print(f"bench: {name} …", file=sys.stderr)
            results += steps[name]()
    text = render(results, started=started, seconds=time.perf_counter() - t0)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
