"""Persistence: engines, transactions, typed models and migrations."""

from .db import Database, normalise_url
from .models import (
    ApiKeyRecord,
    AuditCheckpointRecord,
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
    "AuditCheckpointRecord",
    "AuditHead",
    "Base",
    "CertificateRecord",
    "CRLRecord",
    "Department",
    "Region",
    "SealRecord",
    "utcnow",
]
