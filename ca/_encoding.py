"""Small shared helpers: PEM/DER input (via :mod:`ca.pem`), UTC times, X.509 Time values. Private to ``ca/``."""

from __future__ import annotations

from datetime import UTC, datetime

from asn1crypto import x509

from .pem import is_pem, unarmor_all  # re-exported: the PEM rule lives in ca.pem

__all__ = ["unarmor_all", "is_pem", "utc", "x509_time", "as_utc_datetime", "strip_micro"]


def utc(dt: datetime) -> datetime:
    """``dt`` as an aware UTC datetime; naive datetimes are refused (they hide bugs)."""
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, not {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware datetime (UTC)")
    return dt.astimezone(UTC)


def strip_micro(dt: datetime) -> datetime:
    """Drop sub-second precision (certificate and CRL times are whole seconds)."""
    return dt.replace(microsecond=0)


def x509_time(dt: datetime) -> x509.Time:
    """RFC 5280 §4.1.2.5: UTCTime up to 2049, GeneralizedTime from 2050 on."""
    dt = strip_micro(utc(dt))
    if dt.year < 2050:
        return x509.Time(name="utc_time", value=dt)
    return x509.Time(name="general_time", value=dt)


def as_utc_datetime(value: object, what: str) -> datetime:
    """A parsed ASN.1 time as an aware UTC datetime; ``ValueError`` for anything else."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{what} is not a usable time")
    return value.astimezone(UTC)


def single_der(data: object, labels: frozenset[str], error: type[Exception], what: str) -> bytes:
    """``data`` as DER: returned as is when not PEM, else the one PEM block whose label is in
    ``labels``. Anything else raises ``error`` (the caller's fuzz-safe error type)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise error(f"expected {what} bytes, not {type(data).__name__}")
    data = bytes(data)
    if not is_pem(data):
        return data
    try:
        blocks = unarmor_all(data)
    except Exception as exc:
        raise error(f"broken PEM armour: {exc}") from exc
    if len(blocks) != 1 or blocks[0][0] not in labels:
        raise error(f"expected one {sorted(labels)[0]} PEM block, found {[k for k, _ in blocks]}")
    return blocks[0][1]
