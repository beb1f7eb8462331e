"""Shared settings and seeds for the fuzz tests.

CI runs each target with a bounded number of cases; ``TRUSTSVC_FUZZ_EXAMPLES=N`` (what
``make fuzz`` sets) runs N per target instead. ``--hypothesis-show-statistics`` prints how many
cases each target ran.

From :data:`LONG_RUN` cases per target on (the long mode, ``make fuzz FUZZ_EXAMPLES=100000``)
Hypothesis only generates: no explicit or replayed examples and no shrinking, so every second
goes to new cases; a failure is reported as found, unshrunk.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from asn1crypto import pem
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from trustsvc.formats.report import VerificationReport

__all__ = [
    "examples",
    "fuzz",
    "long_mode",
    "LONG_RUN",
    "no_internal_error",
    "interop_ders",
    "make_service",
    "seeds",
    "pdf_mutant",
    "signer_row",
    "INTEROP",
    "DEPT",
]

REPO = Path(__file__).resolve().parents[2]
DEPT = "11320000MB0000001G"
DEPT_NAME = "江苏省市场监督管理局"
PIN = "fuzz-pin-1234"
INTEROP = Path(os.environ.get("TRUSTSVC_INTEROP_DIR") or REPO.parent / "shared" / "interop")


def examples(ci: int) -> int:
    """Cases per target: ``TRUSTSVC_FUZZ_EXAMPLES`` when set, else ``ci``."""
    value = os.environ.get("TRUSTSVC_FUZZ_EXAMPLES")
    return int(value) if value else ci


LONG_RUN = 10_000
"""Cases per target from which a run is the long mode (generate only)."""


def long_mode() -> bool:
    """Whether this run is the long one (``TRUSTSVC_FUZZ_EXAMPLES`` ≥ :data:`LONG_RUN`)."""
    return examples(0) >= LONG_RUN


def fuzz(ci: int = 150) -> settings:
    return settings(
        max_examples=examples(ci),
        deadline=None,
        database=None,
        phases=[Phase.generate] if long_mode() else tuple(Phase),
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


def no_internal_error(report: VerificationReport) -> None:
    """A verifier's last line of defence turns an unexpected exception into an
    ``internal_error`` check: for a fuzzer that is a crash."""
    assert all(c.name != "internal_error" for c in report.checks), report.message


def interop_ders(*names: str) -> list[bytes]:
    """The interop files (PEM unarmoured) that exist; none when the directory is absent."""
    out = []
    for name in names:
        path = INTEROP / name
        if path.is_file():
            data = path.read_bytes()
            out.append(pem.unarmor(data)[2] if pem.detect(data) else data)
    return out


def make_service(home: Path) -> Any:
    """A real service in ``home`` (SQLite): region 320000, the demo department and its seal."""
    from trustsvc import pki
    from trustsvc.config import load_config, write_config
    from trustsvc.context import open_service
    from trustsvc.sealing import SealRequest, make_department_seal

    env = {
        "TRUSTSVC_HOME": str(home),
        "DATABASE_URL": f"sqlite:///{home / 'trustsvc.db'}",
        "TRUSTSVC_HSM_PIN": PIN,
        # thousands of requests from one address, many with wrong keys: no rate limits here
        "TRUSTSVC_LIMITS_VERIFY_PER_MINUTE": "0",
        "TRUSTSVC_LIMITS_VERIFY_KEY_PER_MINUTE": "0",
        "TRUSTSVC_LIMITS_AUTH_FAILURES_PER_MINUTE": "0",
        "TRUSTSVC_LIMITS_AUTH_FAILURES_ADDRESS_PER_MINUTE": "0",
        "TRUSTSVC_LIMITS_TSA_PER_MINUTE": "0",
        "TRUSTSVC_LIMITS_OCSP_PER_MINUTE": "0",
    }
    write_config(home / "config.toml", {"region": {"code": "320000", "name": "江苏省"}})
    service = open_service(load_config(env), env, create_keystore=True)
    pki.init_region(service, "320000", "江苏省", actor="fuzz")
    pki.add_department(service, DEPT, DEPT_NAME, actor="fuzz")
    make_department_seal(service, SealRequest(DEPT, DEPT_NAME, center_text="证照专用章"), actor="fuzz")
    return service


def signer_row(service: Any, slug: str) -> tuple[Any, bytes | None]:
    """The certificate record ``slug`` (its key is ``service.keystore.signer(row.key_ref)``) and
    its issuer's certificate."""
    from sqlalchemy import select

    from trustsvc.storage.models import CertificateRecord

    with service.db.reader() as s:
        row = s.execute(select(CertificateRecord).where(CertificateRecord.slug == slug)).scalar_one()
        issuer = row.issuer.der if row.issuer is not None else None
    return row, issuer


def seeds(corpus: Any, kind: str) -> list[bytes]:
    """Seeds of one kind (``cert``, ``cms``, ``ses``): this service's own, then the interop ones."""
    c = corpus
    if kind == "cert":
        return [c.certs[s] for s in sorted(c.certs)] + interop_ders(
            "certs/tjfoc_SM2_CA.cer", "certs/ofdrw_sign_cert.pem", "certs/tongsuo_sm2-cert.pem"
        )
    if kind == "cms":
        return [c.status_list, c.timestamp_token] + interop_ders(
            "cms/ynca_gbt35275_detached_SignedValue.p7",
            "cms/tongz_gbt35275_attached_sm3hash_SignedValue.p7",
            "cms/gmsm_cfca_sadk_attached.p7b",
            "cms/gmsm_gmcert_signed_enveloped.p7.pem",
        )
    if kind == "ses":
        return [c.seal, c.ses_signature, c.metadata_signature] + interop_ders(
            "ses/ofdrw_UserV1.esl",
            "ses/ofdrw_UserV5.esl",
            "ses/dianju_v4_SignedValue.dat",
            "ses/dms360_v1_SignedValue.dat",
            "ses/hebeigede_SESealData.DER",
        )
    raise AssertionError(kind)


_PDF_NUMBER = re.compile(rb"(?<![0-9A-Za-z/])[0-9]{1,10}(?![0-9A-Za-z])")
_PDF_NAME = re.compile(rb"/[A-Za-z]{2,20}")


@st.composite
def pdf_mutant(draw: Any, pdf: bytes) -> bytes:
    """The licence PDF with numbers (offsets, lengths, /ByteRange, object numbers), names or
    bytes changed, or cut short."""
    out = bytearray(pdf)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["number", "number", "name", "byte", "cut"]))
        if kind == "cut":
            out = out[: draw(st.integers(0, len(out)))]
            continue
        if kind == "byte" and out:
            i = draw(st.integers(0, len(out) - 1))
            out[i] = draw(st.integers(0, 255))
            continue
        matches = list((_PDF_NUMBER if kind == "number" else _PDF_NAME).finditer(bytes(out)))
        if not matches:
            continue
        m = matches[draw(st.integers(0, len(matches) - 1))]
        new = (
            str(draw(st.sampled_from([0, 1, -1, 2**31, 10**12]) | st.integers(0, len(out) + 10))).encode()
            if kind == "number"
            else draw(
                st.sampled_from(
                    [b"/Type", b"/Sig", b"/Contents", b"/ByteRange", b"/Filter", b"/Length", b"/Kids", b"/X"]
                )
            )
        )
        out[m.start() : m.end()] = new
    return bytes(out)
