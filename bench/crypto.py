"""SM2 against its limit on this machine: ``openssl speed sm2`` and our providers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from hsm import DEFAULT_SM2_ID
from hsm.errors import HSMError
from hsm.provider import get_provider

from .harness import BENCH_CORE, Result, rate

__all__ = ["openssl_speed_sm2", "provider_results"]

_MESSAGE = bytes(range(256))


def openssl_speed_sm2(seconds: int = 3) -> tuple[float, float]:
    """(sign/s, verify/s) of the system OpenSSL's ``speed sm2`` on one core."""
    cmd = ["openssl", "speed", "-seconds", str(seconds), "sm2"]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", str(BENCH_CORE), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "LC_ALL": "C"}).stdout
    m = re.search(r"256 bits SM2 \(\w+\)\s+\S+s\s+\S+s\s+([0-9.]+)\s+([0-9.]+)", out)
    if m is None:
        raise RuntimeError(f"cannot read openssl speed output:\n{out}")
    return float(m.group(1)), float(m.group(2))


def provider_results(ref_sign: float, ref_verify: float) -> list[Result]:
    out = []
    for name in ("openssl", "tongsuo"):
        try:
            provider = get_provider(name)
        except (HSMError, ImportError) as exc:
            out.append(Result("SM2 provider", f"{name}: not available", 0.0, "", note=str(exc)))
            continue
        key = provider.generate()
        pub = provider.load_public(key.spki())
        sig = key.sign(_MESSAGE, DEFAULT_SM2_ID)
        sign = rate(lambda: key.sign(_MESSAGE, DEFAULT_SM2_ID))  # noqa: B023 - timed here, in this iteration
        verify = rate(lambda: pub.verify(_MESSAGE, sig, DEFAULT_SM2_ID))  # noqa: B023
        out.append(
            Result(
                "SM2 provider",
                f"{name}: sign (256-byte message, with Z)",
                sign,
                "/s",
                "openssl speed sm2 sign",
                ref_sign,
                "≥ 0.9×",
                sign >= 0.9 * ref_sign,
            )
        )
        out.append(
            Result(
                "SM2 provider",
                f"{name}: verify",
                verify,
                "/s",
                "openssl speed sm2 verify",
                ref_verify,
                "≥ 0.9×",
                verify >= 0.9 * ref_verify,
            )
        )
    return out
