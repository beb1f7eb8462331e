"""SQLAlchemy 2 typed models. The schema is created only by the Alembic migrations in
``trustsvc/migrations``; these classes describe it for queries.

No column ever holds private key material: certificates name their key by ``key_ref``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, object_session, relationship

from . import signatures

__all__ = [
    "Base",
    "UTCDateTime",
    "Region",
    "CertificateRecord",
    "Department",
    "CRLRecord",
    "ApiKeyRecord",
    "AuditEventRecord",
    "AuditHead",
    "SealRecord",
    "SealStatusEventRecord",
    "DepartmentDefaultSeal",
    "LicenceRecord",
    "LicenceFileRecord",
    "StatusListRecord",
    "ServiceCodeRecord",
    "TrustListRecord",
    "TrustPeerRecord",
    "PeerStatusListRecord",
    "LicenceTypeGrant",
    "LicenceTypeVersionRecord",
    "RetiredSignerRecord",
    "TrustVersion",
    "utcnow",
]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone; PostgreSQL does)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Region(Base):
    """The region this service speaks for (one row); peers come with the trust-list issue."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CertificateRecord(Base):
    """A certificate we issued (or a CA certificate we hold)."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    """Stable name: ``root``, ``services``, ``trust-list-signer``, ``<uscc>``, ``<uscc>/signer``…"""
    profile: Mapped[str] = mapped_column(String(40))
    serial_hex: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"), nullable=True)
    key_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="good")
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    issuer: Mapped[CertificateRecord | None] = relationship(remote_side=[id])

    @property
    def is_ca(self) -> bool:
        return self.profile in ("root_ca", "issuing_ca")


class Department(Base):
    """An issuing department (发证部门), identified by its unified social credit code."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    issuing_ca_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificates.id", use_alter=True, name="fk_departments_issuing_ca"), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CRLRecord(Base):
    __tablename__ = "crls"
    __table_args__ = (UniqueConstraint("ca_id", "crl_number", name="uq_crls_ca_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ca_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    crl_number: Mapped[int] = mapped_column(Integer)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    this_update: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ApiKeyRecord(Base):
    """An API key: only the SHA-256 of its secret part is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), nullable=True)
    licence_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    department: Mapped[Department | None] = relationship()


class AuditEventRecord(Base):
    """One row of the hash-chained audit log. ``hash`` = SM3(prev_hash || canonical row)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(32))
    """UTC time as ISO 8601 text with microseconds, so the hashed form survives every backend."""
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64), default="")
    object_id: Mapped[str] = mapped_column(String(200), default="")
    key_ref: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[str] = mapped_column(Text, default="{}")
    """Canonical JSON (sorted keys, no spaces)."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    """Not indexed: the chain is walked and guarded by ``seq`` (migration 0018)."""


class AuditHead(Base):
    """The chain head (single row, id 1); locked to serialise appends across processes."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpointRecord(Base):
    """A signed statement that the audit chain's row ``seq`` had hash ``hash``: an RFC 3161
    time-stamp token from the region TSA over it (``trustsvc audit checkpoint``). A later check
    starts from the newest one whose token verifies instead of rehashing the whole history."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    token: Mapped[bytes] = mapped_column(LargeBinary)


class SealRecord(Base):
    """A department's electronic seal (GB/T 38540 v4 SES_Seal), stored as made."""

    __tablename__ = "seals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    esid: Mapped[str] = mapped_column(String(32), unique=True)
    """esID: region code + 8-digit sequence (14 digits), unique in the region."""
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    name: Mapped[str] = mapped_column(String(200))
    seal_type: Mapped[int] = mapped_column(Integer)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    valid_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    valid_end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    department: Mapped[Department] = relationship()


class SealStatusEventRecord(Base):
    """One change of a seal's status (suspend, reinstate, revoke, supersede), kept forever: a
    signature is judged by the seal's status at its signing time, so the history is published."""

    __tablename__ = "seal_status_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    """The status from ``effective_at`` on (:class:`trustsvc.seal_lifecycle.SealStatus`)."""
    effective_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(500), default="")
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("seals.id"), nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DepartmentDefaultSeal(Base):
    """The seal a department's licences are sealed with, chosen by an admin or seal manager."""

    __tablename__ = "department_default_seals"

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), primary_key=True)
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"))
    chosen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    chosen_by: Mapped[str] = mapped_column(String(200))


class LicenceRecord(Base):
    """One version of an e-licence (电子证照): its GB/T 36904 identifier, the holder, the type's
    fields, and the department's seal over the canonical GB/T 36903 metadata."""

    __tablename__ = "licences"
    __table_args__ = (
        UniqueConstraint("department_id", "type_code", "serial", "version", name="uq_licences_serial_version"),
        UniqueConstraint("department_id", "status_index", name="uq_licences_status_index"),
        UniqueConstraint("department_id", "idempotency_key", name="uq_licences_idempotency_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(256), unique=True)
    type_code: Mapped[str] = mapped_column(String(64))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    serial: Mapped[str] = mapped_column(String(32))
    """Year (4 digits) + per department/type/year sequence (7 digits)."""
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active")
    """active | suspended | revoked | superseded | expired"""
    holder_name: Mapped[str] = mapped_column(String(200))
    holder_id_type: Mapped[str] = mapped_column(String(8))
    holder_id: Mapped[str] = mapped_column(String(64))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("licences.id"), nullable=True)
    status_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    metadata_json: Mapped[str] = mapped_column(Text)
    """The canonical metadata exactly as sealed (sorted keys, UTF-8, no spaces)."""
    signature_stored: Mapped[bytes] = mapped_column("metadata_signature", LargeBinary)
    """The GB/T 38540 SES_Signature over ``metadata_json``'s UTF-8 bytes as stored: the DER
    without the seal it carries (:mod:`trustsvc.storage.signatures`), or, in rows written
    before that, the whole DER. Read :attr:`metadata_signature`."""
    seal_esid: Mapped[str] = mapped_column(String(32))
    status_index: Mapped[int] = mapped_column(Integer)
    """Position in the issuer's status list; unique per department."""
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    type_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The licence type's catalogue version it was issued under (None: before versions were kept,
    i.e. the type's first recorded version)."""

    department: Mapped[Department] = relationship(lazy="joined")

    def _stored_seal(self, digest: bytes) -> bytes | None:
        """The seal DER with SHA-256 ``digest`` from ``seals`` (by the row's session, or, for a
        row read in a session closed since, by the engine it was read with)."""
        stmt = select(SealRecord.der).where(SealRecord.sha256 == digest.hex())
        session = object_session(self)
        if session is not None:
            found = session.execute(stmt).scalar()
        else:
            bind = self.__dict__.get("_loaded_by")
            if bind is None:
                raise RuntimeError(f"licence {self.identifier}: its seal is not in memory and the row has no session")
            with bind.connect() as conn:
                found = conn.execute(stmt).scalar()
        if found is not None:
            signatures.remember_seal(found)
        return found

    @property
    def metadata_signature(self) -> bytes:
        """The SES_Signature (DER) exactly as signed: the stored part with its seal put back."""
        stored = self.signature_stored
        cached = self.__dict__.get("_signature_full")
        if cached is not None and cached[0] is stored:
            return cast(bytes, cached[1])
        digest = signatures.seal_sha256(stored)
        seal_der = None
        if digest is not None:
            seal_der = signatures.known_seal(digest)
            if seal_der is None:
                seal_der = self._stored_seal(digest)
        full = signatures.expand(stored, seal_der)
        self.__dict__["_signature_full"] = (stored, full)
        return full

    @metadata_signature.setter
    def metadata_signature(self, signature: bytes) -> None:
        """Store a whole DER as it is (see :meth:`store_signature` to store it compactly)."""
        self.signature_stored = signature

    def store_signature(self, signature: bytes, seal_der: bytes, *, stored: bytes | None = None) -> None:
        """Store ``signature`` without the bytes of ``seal_der`` (a seal stored in ``seals``);
        ``stored`` is that compact form when the caller made it already."""
        self.signature_stored = signatures.compact(signature, seal_der) if stored is None else stored
        self.__dict__["_signature_full"] = (self.signature_stored, signature)


class LicenceFileRecord(Base):
    """The rendered, signed file of one licence version (PDF now, OFD later), kept as issued."""

    __tablename__ = "licence_files"

    licence_id: Mapped[int] = mapped_column(ForeignKey("licences.id"), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StatusListRecord(Base):
    """One signed status list of an issuer; ``sequence`` strictly increases per department."""

    __tablename__ = "status_lists"
    __table_args__ = (UniqueConstraint("department_id", "sequence", name="uq_status_lists_sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    size: Mapped[int] = mapped_column(Integer)
    """Number of bits (status indexes) the list covers."""
    body: Mapped[bytes] = mapped_column(LargeBinary)
    """The signed list exactly as served."""
    sha256: Mapped[str] = mapped_column(String(64))
    audit_seq: Mapped[int] = mapped_column(Integer)
    """The audit chain head when the list was built: a later licence status event of this
    department means the list is out of date (``trustsvc.status_lists``)."""


class ServiceCodeRecord(Base):
    """A service code: a licence version's one static code (its text kept, so the printed code
    and the served one agree), or a dynamic code (its nonce, lifetime and single online use)."""

    __tablename__ = "service_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    licence_id: Mapped[int] = mapped_column(ForeignKey("licences.id"))
    kind: Mapped[str] = mapped_column(String(8))
    """static | dynamic"""
    nonce: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    """Dynamic codes: the CWT ``cti`` (hex); None for static codes."""
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Static codes: the ``TS1:`` text; dynamic codes are not kept."""
    signer_sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the code-signer certificate that signed it."""
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    purpose: Mapped[str | None] = mapped_column(String(200), nullable=True)


# -- trust lists between regions (migration 0007, trustsvc.federation.trust_lists / trustsvc.federation.peers) ---------


class TrustListRecord(Base):
    """One signed trust list this region published; ``sequence`` strictly increases."""

    __tablename__ = "trust_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, unique=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    """The CMS SignedData exactly as served."""
    sha256: Mapped[str] = mapped_column(String(64))
    content_sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the entries (everything but sequence and times): a change means a new list."""
    signer_sha256: Mapped[str] = mapped_column(String(64))


class TrustPeerRecord(Base):
    """A peer region imported by pin, with the newest list of it that passed every check."""

    __tablename__ = "trust_peers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6), unique=True)
    region_name: Mapped[str] = mapped_column(String(200))
    pin: Mapped[str] = mapped_column(String(64))
    """SHA-256 (hex) of the peer's root CA certificate DER, exchanged out of band."""
    source: Mapped[str] = mapped_column(String(1000))
    """Where refreshes fetch the list from (URL, or a file path for offline imports)."""
    body: Mapped[bytes] = mapped_column(LargeBinary)
    sequence: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    """When the held list was last fetched and found good (or unchanged)."""
    status: Mapped[str] = mapped_column(String(16), default="ok")
    """Outcome of the last refresh: ok | refused | unreachable."""
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PeerStatusListRecord(Base):
    """A peer issuer's newest signed status list that verified against the peer's list."""

    __tablename__ = "peer_status_lists"
    __table_args__ = (UniqueConstraint("peer_id", "issuer_uscc", name="uq_peer_status_lists_issuer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    peer_id: Mapped[int] = mapped_column(ForeignKey("trust_peers.id", ondelete="CASCADE"))
    issuer_uscc: Mapped[str] = mapped_column(String(18))
    url: Mapped[str] = mapped_column(String(1000))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    sequence: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    """When this body was fetched and stored (fetching the same bytes again writes nothing)."""


class LicenceTypeGrant(Base):
    """A licence type a department is authorised to sign, as published in the trust list. A
    department without grants is listed with every type of the region's catalogue."""

    __tablename__ = "licence_type_grants"
    __table_args__ = (UniqueConstraint("department_id", "type_code", name="uq_licence_type_grants_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    type_code: Mapped[str] = mapped_column(String(64))


class RetiredSignerRecord(Base):
    """A trust-list or code signer replaced by a rotation (its certificate keeps its row)."""

    __tablename__ = "retired_signers"

    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    """trust_list_signer | code_signer"""
    retired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LicenceTypeVersionRecord(Base):
    """One version of a licence type's definition (never changed once written): a licence
    names the version it was issued under, so it renders and reads as it was issued."""

    __tablename__ = "licence_type_versions"
    __table_args__ = (UniqueConstraint("code", "version", name="uq_licence_type_versions_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(64))
    """The type's short name (its file's stem)."""
    origin: Mapped[str] = mapped_column(String(16))
    """national (shipped with the service), home (the region's file), api (added by an admin)."""
    source: Mapped[str] = mapped_column(String(300))
    """The file it came from, or who added it."""
    definition: Mapped[str] = mapped_column(Text)
    """Canonical JSON of the definition."""
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrustVersion(Base):
    """One row: a counter bumped in the same transaction as any change to what verification
    relies on (see :mod:`trustsvc.storage.trust_version`); processes rebuild their trust
    snapshot when it moves."""

    __tablename__ = "trust_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


@event.listens_for(LicenceRecord, "load")
def _remember_engine(target: LicenceRecord, context: Any) -> None:
    """A licence read in a session that closes before its signature is read can still fetch
    its seal (:attr:`LicenceRecord.metadata_signature`)."""
    target.__dict__["_loaded_by"] = context.session.get_bind()
