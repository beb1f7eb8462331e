"""Persistence: engines, transactions, typed models and migrations."""

from .db import Database, normalise_url
from .models import (
    ApiKeyRecord,
    AuditEventRecord,
    AuditHead,
    Base,
    CertificateRecord,
    CRLRecord,
    Department,
    Region,
    SealRecord,
    utcnow,
)

__all__ = [
    "Database",
    "normalise_url",
    "ApiKeyRecord",
    "AuditEventRecord",
    "AuditHead",
    "Base",
    "CertificateRecord",
    "CRLRecord",
    "Department",
    "Region",
    "SealRecord",
    "utcnow",
]
