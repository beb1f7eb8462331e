"""Tables of the holder features (migration ``0010_holder_codes``).

Kept apart from :mod:`trustsvc.storage.models` so the licence schema stays as it is; they share
its declarative base, so one metadata describes the whole database.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ..storage.models import Base, UTCDateTime, utcnow

__all__ = ["LicenceMsoRecord", "PresentationRecord", "HolderCodeRecord", "ConsentRecord", "RedemptionRecord"]


class LicenceMsoRecord(Base):
    """A licence version's MSO with the salts and values the wallet needs to disclose fields.
    The values are those the digests were made over, kept here so the wallet never depends on
    how the licence row renders them."""

    __tablename__ = "licence_msos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    licence_id: Mapped[int] = mapped_column(ForeignKey("licences.id"), unique=True)
    mso: Mapped[bytes] = mapped_column(LargeBinary)
    """The tagged COSE_Sign1, exactly as signed."""
    items: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Field name → ``[salt hex, value]``."""
    signer_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PresentationRecord(Base):
    """A presentation made for a holder: its nonce is the handle of its single online use."""

    __tablename__ = "holder_presentations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32), unique=True)
    holder_id_type: Mapped[str] = mapped_column(String(8))
    holder_id: Mapped[str] = mapped_column(String(64))
    disclosed: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Licence identifier → the field names disclosed."""
    purpose: Mapped[str] = mapped_column(String(200))
    verifier: Mapped[str | None] = mapped_column(String(200), nullable=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    used_purpose: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (Index("ix_holder_presentations_holder", "holder_id_type", "holder_id"),)


class HolderCodeRecord(Base):
    """A holder code issued: its handle (the code's ``cti``) names the holder to redeem for."""

    __tablename__ = "holder_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handle: Mapped[str] = mapped_column(String(32), unique=True)
    holder_id_type: Mapped[str] = mapped_column(String(8))
    holder_id: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class ConsentRecord(Base):
    """A holder's consent: these licences, for this purpose, to this verifier (None: any), until then."""

    __tablename__ = "holder_consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consent_id: Mapped[str] = mapped_column(String(32), unique=True)
    holder_id_type: Mapped[str] = mapped_column(String(8))
    holder_id: Mapped[str] = mapped_column(String(64))
    licences: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(200))
    verifier: Mapped[str | None] = mapped_column(String(200), nullable=True)
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_holder_consents_holder", "holder_id_type", "holder_id"),)


class RedemptionRecord(Base):
    """One use of a holder's licences by a verifier (用证记录), granted or refused."""

    __tablename__ = "holder_redemptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder_id_type: Mapped[str] = mapped_column(String(8))
    holder_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    """``redeem`` (a holder code) or ``presentation`` (a presentation verified online)."""
    consent_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    verifier: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str | None] = mapped_column(String(200), nullable=True)
    licences: Mapped[list[str]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))
    """``granted`` or ``refused``."""
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_holder_redemptions_holder", "holder_id_type", "holder_id"),)
