"""``make bench``: every figure of issue 8 against its reference in the same run, into BENCHMARKS.md.

Run as ``python -m bench.run [--quick] [--only SECTION,...] [--out BENCHMARKS.md]``. Single-thread
figures are pinned to one core; the HTTP figures use both (gunicorn, and the load generator in a
separate process).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .harness import Result, pin_to_one_core

SECTIONS = (
    "crypto",
    "verification",
    "issuance",
    "imports",
    "files",
    "codes",
    "holder",
    "snapshot",
    "dashboard",
    "http",
)


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
    before = False
    for r in results:
        if r.section != section:
            section = r.section
            # a "before" column where a section has figures from before the change it measures
            before = any(x.previous for x in results if x.section == section)
            lines += [
                "",
                f"## {section}",
                "",
                "| figure | value | reference (same run) | ratio | target | met |" + (" before |" if before else ""),
                "|---|---:|---|---:|---|---|" + ("---|" if before else ""),
            ]
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else ""
        ref = f"{r.reference} = {_fmt(r.reference_value)}" if r.reference_value is not None else r.reference
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        value = "—" if r.note and r.value == 0 and not r.unit else f"{_fmt(r.value)} {r.unit}".strip()
        name = r.name + (f" ({r.note})" if r.note else "")
        lines.append(
            f"| {name} | {value} | {ref} | {ratio} | {r.target} | {met} |" + (f" {r.previous} |" if before else "")
        )
    lines += ["", BEFORE.strip(), "", ANALYSIS.strip(), ""]
    return "\n".join(lines) + "\n"


BEFORE = """
"Before" is the figure of the BENCHMARKS.md of 2026-11-30 (another 2-core machine, 2 × AMD EPYC:
compare the ratios), taken before the trust snapshot (issue 13): every verification then rebuilt
its trust material from the database and asked it for revocation and status (about 11 queries
a request).
"""


def kept_sections(old: str, written: str) -> str:
    """The sections of ``old`` that this run does not write (figures added by hand from other
    tools, e.g. ``make bench-scale``), to be kept after the ones it writes."""
    titles = {line for line in written.splitlines() if line.startswith("## ")}
    kept: list[str] = []
    keep = False
    for line in old.splitlines():
        if line.startswith("## "):
            keep = line not in titles
        if keep:
            kept.append(line)
    return "\n".join(kept).strip()


ANALYSIS = """
## Where the time goes (from profiles of these paths; see bench/ and the issue notes)

- **SM2 provider**: the ctypes binding over the system libcrypto pays one EVP context per call;
  both directions run at about 0.95× `openssl speed`.
- **Offline code verification**: one SM2 verification is the floor, and each code still gets
  one. Everything else comes from the trust snapshot (trustsvc.federation.snapshot), worked out when it is
  built: each kid's public key and SM2 `Z` (the check hashes only `Z || message` and verifies the
  digest), the code signer's path (re-judged once per signing time and replayed), every status
  list decoded and checked once; each thread keeps an initialised OpenSSL verify context per
  key. Base45 is decoded with a few C-level big-integer operations over the whole text, the
  raw `r‖s` becomes DER in `cryptography`'s encoder, and every check whose wording is fixed
  (format, algorithm, kid, signature, the signer's path and region, a static code's lifetime,
  the trust material) is built once and reused. What remains beside the SM2 check, per new code
  (instructions counted with callgrind, signature stubbed): about 350 k instructions, down from
  about 470 k: decoding it (Base45, zlib, three CBOR items, the claims' checks, about half),
  its status from the held list, and the 26-check report (a replayed signer assessment shares
  its read-only trust-path entries). Timed, that is 0.85–0.88× of the raw verification on this
  machine (0.70–0.77× for the code of a week ago in the same minutes).
- **HTTP verify**: the trust material is the process's snapshot, rebuilt only when the
  trust-version counter moves (a poll every 0.5 s per worker); an anonymous verification of a
  static code or a licence PDF makes no database query (revocation and status come from the
  snapshot's records and decoded status lists). Per request, in one worker, about 0.55 ms of
  CPU in the app, of which one SM2 verification is 0.22 ms; gunicorn's HTTP handling and the
  kernel's loopback TCP add about 0.3 ms. Fixed on this path: Flask-Limiter's per-request work
  when no limit applies (0.1 ms), sorting the keys of the 30-check report before dumping it
  (0.04 ms), gunicorn's access-log atoms (every header and environ entry copied per request),
  form parsing of JSON bodies, and asn1crypto's string preparation of certificate names
  (remembered per name). What remains is Flask/Werkzeug's request and response objects, JSON
  encoding of a 7 KB report, gunicorn's pure-Python HTTP parser and its gthread keep-alive
  bookkeeping, and two `send` calls per response (headers, then body).
- **HTTP verify of a licence PDF**: about 30 ms of CPU each, two thirds of it in pyHanko reading
  the signature's reserved `/Contents` hex string one token at a time (33,000 tokens a PDF); the
  CMS, seal and time-stamp checks are the rest. Not changed here.
- **Trust snapshot at federation scale**: a first build parses every held list (each of its
  certificates, about 1 ms each in asn1crypto) and checks no status list; each status list is
  checked (CMS signature, signer path) the first time a verification needs it, and the check is
  kept across rebuilds. A rebuild when the counter moves keeps every peer whose rows did not
  change (one row per peer and one aggregate over its status-list rows are read), so a local
  revocation costs every process milliseconds, not a re-read of 150 MB of peer lists; a peer
  whose status list changed is rebuilt from its rows (its list hashed, not parsed again). On
  PostgreSQL a change also wakes every process at once (LISTEN/NOTIFY); the 0.5 s poll stays.
- **Issuance**: three SM2 operations (the seal signature, its self-check, the MSO: ~1.1 ms of
  one core) and ~2.5 ms of Python: 11 statements, each built once (building a SQLAlchemy
  statement cost ~130 µs, running it on SQLite ~20 µs; the audit head is read and moved with
  Core), the metadata, the audit events and the body's schema check. The seal's 80 KB are hashed
  once per key and length header (SM3 for the signature and its self-check, SHA-256 for the
  audit event), not three times a licence, and the SES_Signature is put together around the
  seal's own bytes instead of re-encoded. One fsync per commit (SQLite `synchronous=FULL`, kept:
  an acknowledged licence survives power loss), shared by concurrent requests through the group
  committer (trustsvc/licences/issuing.py); with 4 threads the process still uses one core (the
  leading thread signs its batch of two or three; handing those to other threads cost more in
  lock hand-offs than it gave). Batches of 16 or more (imports, `licences:batch`) sign on every
  core. The body's schema check is compiled (fastjsonschema, ~10 µs; jsonschema only for a body
  it refuses), and on PostgreSQL the hot statements are prepared (readers commit instead of
  rolling back, which made psycopg forget them). A department's row lock is held while its batch
  is signed: one department's licences go a batch at a time, different departments' in parallel
  on PostgreSQL (two processes for two departments: 1.8× one process), while SQLite has one
  write lock for all.
- **Licence PDFs**: about 30 ms each with the store (22 ms to build one): two CMS SignedData
  (the signature and the TSA token), the static code, reportlab drawing the face (6 ms) and
  pyHanko writing and digesting the incremental update. Fixed so far: reportlab's C accelerator (`rl_accel`), asn1crypto
  structures frozen before SET OF sorting, no forced re-encoding when adding the time-stamp, the
  QR code as one path, the seal picture made into image XObjects once per picture instead of
  decoded, MD5-hashed and deflated for every PDF (12 ms of the 40 it took), the seal signature
  attachment (an already compressed PNG, mostly) stored without deflate, and no third SM3 pass
  over the file to check the signed range. `trustsvc files make` opens the service once per
  worker process.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--out", default="BENCHMARKS.md")
    parser.add_argument("--quick", action="store_true", help="shorter HTTP runs (for trying the harness)")
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    started = dt.datetime.now(dt.UTC)
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

    for name in ("imports", "files", "codes", "holder", "snapshot", "dashboard", "http"):
        steps[name] = section(name)
    for name in SECTIONS[1:]:
        if name in wanted:
            print(f"bench: {name} …", file=sys.stderr)
            results += steps[name]()
    text = render(results, started=started, seconds=time.perf_counter() - t0)
    out = Path(args.out)
    if out.exists() and (kept := kept_sections(out.read_text(encoding="utf-8"), text)):
        text += "\n\n" + kept + "\n"
    out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
