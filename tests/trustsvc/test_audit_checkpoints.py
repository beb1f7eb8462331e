"""Signed audit checkpoints (issue 16): a daily check walks only the rows since the newest valid
checkpoint, and a history rewritten consistently (hashes recomputed, head moved) is caught by
the checkpoint, which the full chain walk cannot do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from hsm import sm3
from trustsvc import pki
from trustsvc.apikeys import SystemActor
from trustsvc.audit import AuditEvent, chain_length, record, row_hash, verify_chain
from trustsvc.audit_checkpoints import (
    checkpoint_statement,
    make_checkpoint,
    newest_valid_checkpoint,
    verify_since_checkpoint,
)
from trustsvc.certificates import revoke_certificate
from trustsvc.cli import cli
from trustsvc.config import load_config, write_config
from trustsvc.context import open_service
from trustsvc.errors import ConflictError
from trustsvc.sealing import region_authority
from trustsvc.storage.models import AuditCheckpointRecord, AuditEventRecord, AuditHead, CertificateRecord


def _fill(service: Any, n: int) -> None:
    for i in range(n):
        with service.db.transaction() as s:
            record(s, AuditEvent(actor="test", action="thing.do", object_type="thing", object_id=str(i)))


def _other_region(home: Path) -> Any:
    """Region 330000 in ``home`` (SQLite): its own root, services CA and TSA."""
    env = {"TRUSTSVC_HOME": str(home), "DATABASE_URL": f"sqlite:///{home / 'other.db'}", "TRUSTSVC_HSM_PIN": "pin-1234"}
    write_config(home / "config.toml", {"region": {"code": "330000", "name": "浙江省"}})
    other = open_service(load_config(env), env, create_keystore=True)
    pki.init_region(other, "330000", "浙江省", actor="test")
    return other


def _since(service: Any, **kw: Any) -> Any:
    with service.db.reader() as s:
        return verify_since_checkpoint(s, **kw)


def test_the_walk_starts_at_the_checkpoint_and_covers_every_later_row(service: Any) -> None:
    _fill(service, 5)
    made = make_checkpoint(service, actor=SystemActor("test"))
    with service.db.reader() as s:
        head = chain_length(s)
    assert made.seq == head - 1  # the checkpoint's own audit event follows the row it signs
    _fill(service, 7)
    checked = _since(service)
    assert checked.ok and checked.checkpoint is not None and checked.checkpoint.seq == made.seq
    assert checked.chain.from_seq == made.seq
    assert checked.chain.rows == 1 + 1 + 7  # the checkpoint's row, its audit event, the new rows
    with service.db.reader() as s:
        root = s.execute(select(CertificateRecord.sha256).where(CertificateRecord.profile == "root_ca")).scalar_one()
    assert checked.checkpoint.root_sha256 == root


def test_an_edit_after_the_checkpoint_is_found(service: Any) -> None:
    _fill(service, 3)
    made = make_checkpoint(service, actor=SystemActor("test"))
    _fill(service, 3)
    with service.db.transaction() as s:
        s.execute(update(AuditEventRecord).where(AuditEventRecord.seq == made.seq + 2).values(actor="mallory"))
    checked = _since(service)
    assert not checked.ok and checked.chain.bad_seq == made.seq + 2


def test_a_consistently_rewritten_history_is_caught_only_by_the_checkpoint(service: Any) -> None:
    _fill(service, 4)
    made = make_checkpoint(service, actor=SystemActor("test"))
    _fill(service, 2)
    # Someone with write access to the database edits row 2 and recomputes every later hash and
    # the head: the chain is consistent again, so the full walk cannot tell.
    with service.db.transaction() as s:
        rows = s.execute(select(AuditEventRecord).order_by(AuditEventRecord.seq)).scalars().all()
        prev = rows[0].hash
        for row in rows[1:]:
            if row.seq == 2:
                row.actor = "mallory"
            row.prev_hash = prev
            row.hash = row_hash(
                prev, row.seq, row.ts, row.actor, row.action, row.object_type, row.object_id, row.key_ref, row.details
            )
            prev = row.hash
        s.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))
    with service.db.reader() as s:
        assert verify_chain(s).ok
    checked = _since(service)
    assert not checked.ok and checked.chain.bad_seq == made.seq
    assert "history rewritten" in checked.chain.problem


def test_a_forged_or_foreign_checkpoint_is_passed_over(service: Any, tmp_path: Path) -> None:
    _fill(service, 3)
    good = make_checkpoint(service, actor=SystemActor("test"))
    _fill(service, 3)
    with service.db.reader() as s:
        head_seq, head_hash = s.execute(select(AuditHead.seq, AuditHead.hash)).one()
    # 1. a real token moved onto another row's statement
    with service.db.transaction() as s:
        token = s.execute(select(AuditCheckpointRecord.token)).scalar_one()
        s.add(AuditCheckpointRecord(seq=head_seq, hash=head_hash, token=token))
    # 2. a token from the TSA of another region (under its own root), over the right statement
    other = _other_region(tmp_path / "other")
    try:
        foreign = region_authority(other).stamp(sm3(checkpoint_statement(head_seq, head_hash)), hash_algorithm="sm3")
    finally:
        other.close()
    with service.db.transaction() as s:
        s.add(AuditCheckpointRecord(seq=head_seq, hash=head_hash, token=foreign))
    with service.db.reader() as s:
        checkpoint, passed_over = newest_valid_checkpoint(s)
    assert checkpoint is not None and checkpoint.seq == good.seq
    assert len(passed_over) == 2
    assert any("not one this region issued" in why for why in passed_over)
    assert any("does not verify" in why for why in passed_over)
    assert _since(service).ok


def test_a_root_pin_that_does_not_match_trusts_no_checkpoint(service: Any) -> None:
    _fill(service, 2)
    make_checkpoint(service, actor=SystemActor("test"))
    checked = _since(service, root_sha256="00" * 32)
    assert checked.checkpoint is None and checked.chain.from_seq == 1 and checked.ok
    assert "not the pinned" in checked.passed_over[0]


def test_a_revoked_tsa_makes_no_checkpoint_and_its_old_ones_are_not_trusted(service: Any) -> None:
    _fill(service, 2)
    make_checkpoint(service, actor=SystemActor("test"))
    revoke_certificate(service, "tsa", "keyCompromise", actor="test")
    checked = _since(service)
    assert checked.checkpoint is None and "revoked" in checked.passed_over[0]
    with service.db.reader() as s:
        before = s.execute(select(AuditCheckpointRecord.id)).all()
    with pytest.raises(ConflictError):
        make_checkpoint(service, actor=SystemActor("test"))
    with service.db.reader() as s:
        assert s.execute(select(AuditCheckpointRecord.id)).all() == before  # nothing half-written


def test_cli_checkpoint_then_verify_since_checkpoint(service: Any, service_env: dict[str, str]) -> None:
    _fill(service, 3)
    runner = CliRunner()
    first = runner.invoke(cli, ["audit", "checkpoint"], env=service_env)
    assert first.exit_code == 0, first.output
    assert "no valid checkpoint: the whole chain is checked" in first.output
    assert "checkpoint at row" in first.output
    _fill(service, 4)
    out = runner.invoke(cli, ["audit", "verify", "--since-checkpoint"], env=service_env)
    assert out.exit_code == 0, out.output
    assert "from the checkpoint at row" in out.output and "checked from row" in out.output
    with service.db.transaction() as s:
        last = s.execute(select(AuditHead.seq)).scalar_one()
        s.execute(update(AuditEventRecord).where(AuditEventRecord.seq == last).values(object_id="x"))
    bad = runner.invoke(cli, ["audit", "checkpoint"], env=service_env)
    assert bad.exit_code == 1 and "no checkpoint made" in bad.output
