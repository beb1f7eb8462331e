"""Signed checkpoints of the audit chain, so a daily check does not rehash all history.

A checkpoint is the statement "row *seq* of this region's audit chain has hash *h*", time-stamped
by the region TSA (RFC 3161, SM3 imprint, the TSA key in the HSM). Whoever can write the
database can rewrite the whole chain consistently, hashes included: the chain alone proves only
that nobody edited it *carelessly*. A checkpoint they cannot forge (no TSA key) pins every row up
to *seq*: changing any of them, and re-chaining to hide it, changes the hash of row *seq*.

``trustsvc audit checkpoint`` checks the chain from the newest valid checkpoint (the whole chain
when there is none) and, when it holds, signs a new one at the head. ``trustsvc audit verify
--since-checkpoint`` checks from the newest valid checkpoint on. What that walk does not see is
an edit to an old row that leaves its stored hash alone (the chain is then broken at that row,
which a full ``trustsvc audit verify`` finds): run the full walk now and then, the incremental
one daily.

A checkpoint is trusted when its token verifies, stamps exactly its statement, and its TSA
certificate chains to the region root held in the database and is not revoked. The root's
SHA-256 is reported, so an operator can hold it against the region's published pin (the one
peers import the trust list by); ``--root-sha256`` makes that comparison part of the check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.certs import ParsedCertificate, parse_certificate
from ca.errors import CAError
from ca.tsa import verify_timestamp_token
from ca.validate import validate_path
from hsm import sm3

from .apikeys import Actor
from .audit import AuditEvent, ChainVerification, record, verify_chain
from .context import TrustService
from .errors import ConflictError
from .storage.models import AuditCheckpointRecord, AuditHead, CertificateRecord

__all__ = [
    "Checkpoint",
    "CheckpointedVerification",
    "checkpoint_statement",
    "make_checkpoint",
    "newest_valid_checkpoint",
    "verify_since_checkpoint",
]

_STATEMENT_PREFIX = b"trustsvc audit checkpoint v1\n"
_LOOK_BACK = 32
"""Checkpoints tried, newest first, before falling back to the whole chain."""


def checkpoint_statement(seq: int, digest: str) -> bytes:
    """The bytes a checkpoint's time-stamp imprint is the SM3 of."""
    return _STATEMENT_PREFIX + f"seq={seq}\nhash={digest}\n".encode("ascii")


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint whose token verified: row ``seq`` had ``hash`` at ``stamped_at``."""

    seq: int
    hash: str
    stamped_at: dt.datetime
    """The time-stamp's genTime."""
    root_sha256: str
    """The root certificate the TSA certificate chained to."""


@dataclass(frozen=True)
class CheckpointedVerification:
    """A chain check and the checkpoint it started from (None: the whole chain was walked)."""

    chain: ChainVerification
    checkpoint: Checkpoint | None
    passed_over: tuple[str, ...] = ()
    """Why newer checkpoints were not used (a token that does not verify, an unknown TSA...)."""

    @property
    def ok(self) -> bool:
        return self.chain.ok


def _certificates(session: Session) -> tuple[list[bytes], list[bytes], dict[str, str]]:
    """The region's roots, its other CA certificates, and each certificate's status by SHA-256."""
    rows = session.execute(
        select(CertificateRecord.profile, CertificateRecord.der, CertificateRecord.sha256, CertificateRecord.status)
    ).all()
    roots = [der for profile, der, _, _ in rows if profile == "root_ca"]
    cas = [der for profile, der, _, _ in rows if profile != "root_ca"]
    return roots, cas, {sha: status for _, _, sha, status in rows}


def _judge(
    row: AuditCheckpointRecord,
    roots: list[bytes],
    cas: list[bytes],
    statuses: dict[str, str],
    root_sha256: str | None,
) -> Checkpoint | str:
    """The checkpoint ``row`` vouches for, or why it does not."""
    try:
        stamp = verify_timestamp_token(row.token, data=checkpoint_statement(row.seq, row.hash))
    except CAError as exc:
        return f"its token is unreadable ({exc.message})"
    if not stamp.valid or stamp.hash_algorithm != "sm3":
        failed = next((c for c in stamp.checks if c.failed), None)
        return f"its time-stamp does not verify ({failed.name}: {failed.detail})" if failed else "no SM3 time-stamp"
    if stamp.tsa_cert_der is None:
        return "its time-stamp carries no TSA certificate"
    tsa: ParsedCertificate = parse_certificate(stamp.tsa_cert_der)
    if statuses.get(tsa.sha256) is None:
        return f"its TSA certificate ({tsa.subject_str}) is not one this region issued"
    if statuses[tsa.sha256] == "revoked":
        return f"its TSA certificate ({tsa.subject_str}) is revoked"
    path = validate_path(tsa, intermediates=cas, anchors=roots, at=stamp.gen_time, required_eku="time_stamping")
    if not path.passed or path.anchor is None:
        return f"its TSA certificate does not chain to this region's root: {path.message}"
    if root_sha256 is not None and path.anchor.sha256 != root_sha256.lower():
        return f"its TSA certificate chains to root {path.anchor.sha256}, not the pinned {root_sha256.lower()}"
    return Checkpoint(row.seq, row.hash, stamp.gen_time, path.anchor.sha256)


def newest_valid_checkpoint(
    session: Session, *, root_sha256: str | None = None
) -> tuple[Checkpoint | None, tuple[str, ...]]:
    """The newest checkpoint that is trusted (see the module docstring), and why any newer ones
    were passed over."""
    rows = (
        session.execute(
            select(AuditCheckpointRecord)
            .order_by(AuditCheckpointRecord.seq.desc(), AuditCheckpointRecord.id.desc())
            .limit(_LOOK_BACK)
        )
        .scalars()
        .all()
    )
    if not rows:
        return None, ()
    roots, cas, statuses = _certificates(session)
    passed_over: list[str] = []
    for row in rows:
        judged = _judge(row, roots, cas, statuses, root_sha256)
        if isinstance(judged, Checkpoint):
            return judged, tuple(passed_over)
        passed_over.append(f"checkpoint at row {row.seq}: {judged}")
    return None, tuple(passed_over)


def verify_since_checkpoint(
    session: Session,
    *,
    root_sha256: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CheckpointedVerification:
    """Check the chain from the newest valid checkpoint to the head (the whole chain when none
    is valid)."""
    checkpoint, passed_over = newest_valid_checkpoint(session, root_sha256=root_sha256)
    start = (checkpoint.seq, checkpoint.hash) if checkpoint is not None else None
    chain = verify_chain(session, progress=progress, start=start)
    return CheckpointedVerification(chain, checkpoint, passed_over)


def make_checkpoint(service: TrustService, *, actor: Actor) -> Checkpoint:
    """Time-stamp the chain head with the region TSA and record it (audited).

    Call it after a check passed (``trustsvc audit checkpoint`` does): a checkpoint vouches
    for every row before it.

    :raises ConflictError: ``audit_log_empty`` when there is no row to vouch for.
    """
    from .sealing import region_authority  # the TSA (sealing pulls in the seal machinery)

    with service.db.reader() as session:
        head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one_or_none()
    if head is None or head.seq == 0:
        raise ConflictError("the audit log has no rows to checkpoint", code="audit_log_empty")
    seq, digest = int(head.seq), str(head.hash)
    token = region_authority(service).stamp(sm3(checkpoint_statement(seq, digest)), hash_algorithm="sm3")
    row = AuditCheckpointRecord(seq=seq, hash=digest, token=token)
    with service.db.transaction() as session:
        judged = _judge(row, *_certificates(session), None)
        if not isinstance(judged, Checkpoint):  # e.g. the TSA certificate no longer chains: store nothing
            raise ConflictError(f"the new checkpoint would not be trusted: {judged}", code="audit_checkpoint_untrusted")
        session.add(row)
        record(
            session,
            AuditEvent(
                actor=actor.actor,
                action="audit.checkpoint",
                object_type="audit_log",
                object_id=str(seq),
                details={"hash": digest},
            ),
        )
    return judged
