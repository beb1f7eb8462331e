"""One real service for the fuzz tests (SQLite, made once per session) and the seeds cut from
it: certificates, a seal and an SES signature, a time-stamp token, a signed status list, the
licence's sealed metadata, its PDF and service codes, and an OCSP request. The parsers are
fuzzed from what this service really makes, so mutants start deep inside valid structures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fuzz_kit import DEPT, make_service, signer_row
from sqlalchemy import select

from trustsvc.apikeys import SystemActor


@dataclass(frozen=True, repr=False)
class Corpus:
    service: Any
    """The open :class:`trustsvc.context.TrustService` (do not write through it in parser tests)."""
    trust: Any
    """Its local TrustContext."""
    certs: dict[str, bytes]
    """slug → certificate DER (root, services, the department's CA, signer, seal maker, ...)."""
    seal: bytes
    ses_signature: bytes
    signed_document: bytes
    timestamp_token: bytes
    status_list: bytes
    metadata: bytes
    metadata_signature: bytes
    licence_id: str
    pdf: bytes
    static_code: str
    dynamic_code: str
    ocsp_request: bytes

    def __repr__(self) -> str:
        # Hypothesis prints fixture arguments with a failing case: keep that short (a full
        # repr is megabytes, which Hypothesis warns about, and warnings are errors here).
        return f"Corpus(licence={self.licence_id})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis' pretty-printer hook
        printer.text(repr(self))


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    from ca.ocsp_client import build_ocsp_request
    from trustsvc.codes.service import make_dynamic_code, static_code_text
    from trustsvc.federation.local_trust import local_trust_context
    from trustsvc.licences.files import ensure_licence_file
    from trustsvc.licences.service import issue_licence
    from trustsvc.sealing import apply_seal, region_authority
    from trustsvc.status_lists import current_status_list
    from trustsvc.storage.models import CertificateRecord, SealRecord

    service = make_service(tmp_path_factory.mktemp("fuzz") / "home")
    from trustsvc.cli.demo import sample_request

    row = issue_licence(
        service,
        sample_request(),
        principal_or_actor=SystemActor("fuzz"),
        department_uscc=DEPT,
        idempotency_key="fuzz-sample",
    )
    pdf = ensure_licence_file(service, row.identifier, actor="fuzz").content
    with service.db.reader() as s:
        certs = {c.slug: c.der for c in s.execute(select(CertificateRecord)).scalars()}
        seal = s.execute(select(SealRecord)).scalars().first()
    assert seal is not None
    document = "模糊测试的文档".encode()
    applied = apply_seal(service, seal.esid, document, actor="fuzz", property_info="fuzz")
    from hsm import sm3

    token = region_authority(service).stamp(sm3(b"fuzz"), hash_algorithm="sm3")
    signer_slug = next(slug for slug in certs if slug.endswith("/signer"))
    yield Corpus(
        service=service,
        trust=local_trust_context(service.db),
        certs=certs,
        seal=seal.der,
        ses_signature=applied.signature,
        signed_document=document,
        timestamp_token=token,
        status_list=current_status_list(service, DEPT).der,
        metadata=row.metadata_json.encode("utf-8"),
        metadata_signature=row.metadata_signature,
        licence_id=row.identifier,
        pdf=pdf,
        static_code=static_code_text(service, row.identifier),
        dynamic_code=make_dynamic_code(service, row.identifier, principal_or_actor=SystemActor("fuzz"), ttl=900).text,
        ocsp_request=build_ocsp_request(certs[signer_slug], certs[DEPT], nonce=b"fuzz-nonce-0001"),
    )
    service.close()


@pytest.fixture(scope="session")
def status_signer(corpus: Corpus) -> tuple[Any, bytes, list[bytes], dict[str, Any]]:
    """The region's status-list signer (key, certificate, chain) and the real list's JSON."""
    import json

    from ca.cms import verify_cms

    row, issuer = signer_row(corpus.service, "status-list-signer")
    assert issuer is not None
    base = json.loads(verify_cms(corpus.status_list).encapsulated_content or b"{}")
    return corpus.service.keystore.signer(row.key_ref), row.der, [issuer], base


@pytest.fixture(scope="session")
def code_signer(corpus: Corpus) -> tuple[Any, bytes]:
    """The region's code signer (key, certificate)."""
    row, _ = signer_row(corpus.service, "code-signer")
    return corpus.service.keystore.signer(row.key_ref), row.der


@pytest.fixture(scope="session")
def department_signers(corpus: Corpus) -> tuple[Any, Any]:
    """The department's seal-maker and signer keys."""
    maker, _ = signer_row(corpus.service, f"{DEPT}/seal-maker")
    signer, _ = signer_row(corpus.service, f"{DEPT}/signer")
    return corpus.service.keystore.signer(maker.key_ref), corpus.service.keystore.signer(signer.key_ref)
