"""Verifying a licence OFD (kind ``ofd``, ``object.licence`` set): the seal, what it covers, and
the licence it names.

The signatures are verified by :func:`trustsvc.formats.ofd.verify_ofd`, the verifier every OFD goes
through (every Reference recomputed, Seal.esl against the signed seal, the SES signature over
Signature.xml, the seal's maker and the signer's chain at the signing time, the time-stamp).
Its checks are carried here, the signature's own prefixed ``signature.``. A licence file adds:

* ``ofd.signatures``: exactly one signature, a seal (``Type="Seal"``); a second one FAILS.
* ``ofd.coverage``: every part of the package is covered by the seal; a part the seal does not
  cover (an added page, an extra file) FAILS with HASH_FAILURE: it was added after sealing.
* ``metadata`` / ``metadata.signature``: the attached ``licence-metadata.json`` and the
  department seal's SES signature over it (``licence-metadata.ses``).
* ``ofd.custom_data``: each ``CustomData`` of ``OFD.xml`` (GB/T 36903 codes, ``ZZBS`` the
  identifier) says what the sealed metadata says.
* ``ofd.signer_issuer``: the signer certificate belongs to the department the identifier names;
  ``licence.authorisation``: the issuer may sign the type (peer lists).
* ``licence.status``: the one status rule (revoked or superseded FAILED / REVOKED, expired
  FAILED / EXPIRED, suspended INDETERMINATE), when the caller can look the licence up.

Never raises: unreadable input is a FAILED / FORMAT_FAILURE report.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

from ca.certs import parse_certificate
from ca.errors import CAError
from ca.results import (
    FORMAT_FAILURE,
    HASH_FAILURE,
    SIG_CONSTRAINTS_FAILURE,
    SIG_CRYPTO_FAILURE,
    TRY_LATER,
    Check,
    Indication,
)
from hsm.errors import TrustSvcError

from ..federation.authorisation import check_licence_authorisation
from ..formats.ofd import OFDFormatError, OFDPackage, resolve_path, verify_ofd
from ..formats.report import ReportBuilder, ReportPart, VerificationReport
from ..formats.seals.errors import SESFormatError
from ..formats.seals.parse import parse_ses_signature
from ..formats.seals.verify import TSTVerifier, verify_ses_signature
from ..formats.trust import NO_TRUST, TrustContext, aware
from .identifier import parse_identifier
from .pdf_verify import StatusLookup, TrustScope, _expired_by_dates, _status_index
from .status import add_status_check

__all__ = ["verify_licence_ofd", "is_licence_ofd", "METADATA_NAME"]

log = logging.getLogger(__name__)

METADATA_NAME = "licence-metadata.json"
_METADATA_SES = "licence-metadata.ses"
_STATUS_ENTRY = "licence-status.json"
_MAX_ATTACHMENT = 4 * 1024 * 1024
_ORG_ID_PREFIX = "NTRCN-"


def is_licence_ofd(data: bytes) -> bool:
    """Whether an OFD package carries licence metadata (so it is judged as a licence file)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return any(name.rsplit("/", 1)[-1] == METADATA_NAME for name in zf.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return False


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _xml(package: OFDPackage, path: str) -> ElementTree.Element:
    from ..formats.ofd import _parse_xml

    return _parse_xml(package.read(path), path, package.limits)


def _find(element: ElementTree.Element, *names: str) -> ElementTree.Element | None:
    current: ElementTree.Element | None = element
    for name in names:
        if current is None:
            return None
        current = next((c for c in current if _local(c.tag) == name), None)
    return current


def _read_parts(package: OFDPackage) -> tuple[dict[str, str], dict[str, bytes]]:
    """(CustomData name -> value of the first document, attachment name -> bytes)."""
    root = _xml(package, "/OFD.xml")
    body = _find(root, "DocBody")
    if body is None:
        raise OFDFormatError("OFD.xml has no DocBody")
    custom: dict[str, str] = {}
    datas = _find(body, "DocInfo", "CustomDatas")
    for el in datas if datas is not None else ():
        name = el.get("Name")
        if _local(el.tag) == "CustomData" and name and name not in custom:
            custom[name] = (el.text or "").strip()
    files: dict[str, bytes] = {}
    doc_root_el = _find(body, "DocRoot")
    doc_root = (doc_root_el.text or "").strip() if doc_root_el is not None else ""
    if not doc_root:
        return custom, files
    doc_path = resolve_path("/OFD.xml", doc_root)
    attachments_ref = _find(_xml(package, doc_path), "Attachments")
    if attachments_ref is None or not (attachments_ref.text or "").strip():
        return custom, files
    list_path = resolve_path(doc_path, (attachments_ref.text or "").strip())
    for el in _xml(package, list_path):
        loc = _find(el, "FileLoc")
        name = el.get("Name") or ""
        if _local(el.tag) != "Attachment" or loc is None or not name or name in files:
            continue
        path = resolve_path(list_path, (loc.text or "").strip())
        if package.has(path):
            data = package.read(path)
            if len(data) <= _MAX_ATTACHMENT:
                files[name] = data
    return custom, files


def _claimed_identifier(custom: dict[str, str], files: dict[str, bytes]) -> str | None:
    candidates: list[Any] = []
    try:
        meta = json.loads(files.get(METADATA_NAME, b"null").decode("utf-8"))
        candidates.append(meta.get("ZZBS") if isinstance(meta, dict) else None)
    except (ValueError, UnicodeDecodeError):
        pass
    candidates.append(custom.get("ZZBS"))
    for candidate in candidates:
        if isinstance(candidate, str):
            try:
                return parse_identifier(candidate).text
            except TrustSvcError:
                continue
    return None


def _replay(builder: ReportBuilder, report: VerificationReport) -> None:
    """Record ``report``'s checks and verdict here."""
    failure = (
        (report.sub_indication or FORMAT_FAILURE, report.message) if report.indication is Indication.FAILED else None
    )
    undecided = (
        (report.sub_indication or TRY_LATER, report.message) if report.indication is Indication.INDETERMINATE else None
    )
    builder.add_part(
        ReportPart(
            checks=report.checks,
            trust_path=report.trust_path,
            warnings=report.warnings,
            status_now=report.status_now,
            failure=failure,
            indeterminate=undecided,
        )
    )


def _metadata(
    builder: ReportBuilder,
    custom: dict[str, str],
    files: dict[str, bytes],
    *,
    trust: TrustContext,
    now: datetime,
    tst_verifier: TSTVerifier | None,
) -> tuple[str | None, dict[str, Any]]:
    meta_bytes, ses = files.get(METADATA_NAME), files.get(_METADATA_SES)
    meta: dict[str, Any] = {}
    identifier: str | None = None
    if meta_bytes is None:
        builder.fail("metadata", FORMAT_FAILURE, f"no attached {METADATA_NAME}: not a licence file")
    else:
        try:
            loaded = json.loads(meta_bytes.decode("utf-8"))
            if not isinstance(loaded, dict) or not isinstance(loaded.get("ZZBS"), str):
                raise ValueError("no ZZBS")
            identifier = parse_identifier(loaded["ZZBS"]).text
            meta = loaded
        except (ValueError, UnicodeDecodeError, TrustSvcError) as exc:
            builder.fail(
                "metadata", FORMAT_FAILURE, f"{METADATA_NAME} is not licence metadata with a valid ZZBS ({exc})"
            )
        else:
            builder.passed("metadata", f"{METADATA_NAME} names licence {identifier}")
        if ses is None:
            builder.warn("metadata.signature", f"no {_METADATA_SES}: the attached metadata is not sealed")
        else:
            sub = verify_ses_signature(ses, original=meta_bytes, trust=trust, now=now, tst_verifier=tst_verifier)
            builder.extend(sub.checks, "metadata.")
            builder.warnings.extend(sub.warnings)
            what = f"the department seal's SES signature over {METADATA_NAME}"
            if sub.indication is Indication.FAILED:
                builder.fail("metadata.signature", sub.sub_indication or SIG_CRYPTO_FAILURE, f"{what}: {sub.message}")
            elif sub.indication is Indication.INDETERMINATE:
                builder.indeterminate(
                    "metadata.signature", sub.sub_indication or "INDETERMINATE", f"{what}: {sub.message}"
                )
            else:
                builder.passed("metadata.signature", f"{what} verifies")
    if meta:
        differ = sorted(
            name
            for name, value in custom.items()
            if name in meta
            and value != (meta[name] if isinstance(meta[name], str) else json.dumps(meta[name], ensure_ascii=False))
        )
        missing = "ZZBS" not in custom
        if differ:
            builder.fail(
                "ofd.custom_data",
                SIG_CONSTRAINTS_FAILURE,
                f"CustomData {', '.join(differ)} of OFD.xml differ from the sealed metadata",
            )
        elif missing:
            builder.warn("ofd.custom_data", "OFD.xml carries no CustomData ZZBS (the licence identifier)")
        else:
            builder.passed(
                "ofd.custom_data",
                f"the {len(custom)} CustomData of OFD.xml agree with the sealed metadata (ZZBS {custom['ZZBS']})",
            )
    elif identifier is None and "ZZBS" in custom:
        try:
            identifier = parse_identifier(custom["ZZBS"]).text
        except TrustSvcError:
            builder.fail("ofd.custom_data", FORMAT_FAILURE, f"CustomData ZZBS {custom['ZZBS']!r} is not an identifier")
    return identifier, meta


def _signer_issuer(builder: ReportBuilder, signer_der: bytes | None, identifier: str | None) -> None:
    if identifier is None or signer_der is None:
        builder.skipped("ofd.signer_issuer", "no licence identifier or signer: the signer cannot be matched")
        return
    issuer = parse_identifier(identifier).issuer_code
    try:
        subject = parse_certificate(signer_der).subject.native
    except CAError:
        return  # the signer checks already say the certificate is unreadable
    org_id = subject.get("organization_identifier") if isinstance(subject, dict) else None
    if not isinstance(org_id, str):
        builder.warn(
            "ofd.signer_issuer",
            f"the signer certificate names no organizationIdentifier; it cannot be matched to issuer {issuer}",
        )
    elif org_id.upper() in (issuer, _ORG_ID_PREFIX + issuer):
        builder.passed("ofd.signer_issuer", f"sealed by the issuing department {issuer}")
    else:
        builder.fail(
            "ofd.signer_issuer", SIG_CONSTRAINTS_FAILURE, f"sealed by {org_id}, but the licence names issuer {issuer}"
        )


def _signer_cert(package: OFDPackage, signature: dict[str, Any]) -> bytes | None:
    path = signature.get("object", {}).get("signed_value")
    try:
        sig_path = signature["object"]["path"]
        value = package.read(resolve_path(sig_path, path)) if isinstance(path, str) else None
        return parse_ses_signature(value).signer_cert if value is not None else None
    except (OFDFormatError, SESFormatError, KeyError, TypeError):
        return None


def _status(
    builder: ReportBuilder,
    identifier: str | None,
    files: dict[str, bytes],
    meta_bytes: bytes | None,
    status_lookup: StatusLookup | None,
    scope: TrustScope | None,
    now: datetime,
) -> None:
    if identifier is None:
        builder.skipped("licence.status", "the file names no licence, so no status was checked")
        return
    if status_lookup is None:
        builder.skipped("licence.status", "no licence records are available to this verifier")
        builder.warnings.append(f"the status of licence {identifier} was not checked")
        return
    if scope is not None and not any(
        c.name == "signature.ses.signer.path" and c.result == "passed" for c in builder.checks
    ):
        builder.skipped(
            "licence.status",
            f"not consulted: the seal does not chain to the anchor that vouches for the issuer of {identifier}",
        )
        return
    index = _status_index(files.get(_STATUS_ENTRY), identifier)
    try:
        status = status_lookup(identifier) if index is None else status_lookup(identifier, status_index=index)
    except Exception as exc:  # the records are unreachable: say so, do not guess
        log.warning("licence status lookup failed: %s", exc)
        builder.indeterminate(
            "licence.status", TRY_LATER, f"the status of licence {identifier} could not be read ({type(exc).__name__})"
        )
        return
    if scope is not None and status is not None and status.status == "active":
        status = _expired_by_dates(status, meta_bytes, now)
    add_status_check(builder, status, identifier=identifier)


def _verify(
    builder: ReportBuilder,
    data: bytes,
    trust: TrustContext,
    now: datetime,
    tst_verifier: TSTVerifier | None,
    status_lookup: StatusLookup | None,
    scope: TrustScope | None,
) -> None:
    package = OFDPackage(bytes(data))
    custom, files = _read_parts(package)
    if scope is not None:
        trust, tst_verifier = scope(_claimed_identifier(custom, files))
    inner = verify_ofd(data, trust=trust, now=now, tst_verifier=tst_verifier)
    _replay(builder, inner)
    signatures = list(inner.object.get("signatures") or [])
    builder.object.update(
        files=inner.object.get("files"), signatures=len(signatures), uncovered=list(inner.object.get("uncovered") or [])
    )
    if len(signatures) != 1 or signatures[0].get("object", {}).get("type") != "Seal":
        builder.fail(
            "ofd.signatures",
            FORMAT_FAILURE,
            f"a licence OFD carries exactly one seal, not {len(signatures)} signature(s)",
        )
    else:
        builder.passed("ofd.signatures", "one seal (Type=Seal)")
    signer_der: bytes | None = None
    if signatures:
        sig = signatures[0]
        builder.extend((Check(c["name"], c["result"], c["detail"]) for c in sig.get("checks", [])), "signature.")
        builder.trust_path.extend(sig.get("trust_path", []))
        builder.warnings.extend(w for w in sig.get("warnings", []) if w not in builder.warnings)
        if sig.get("signing_time"):
            builder.signing_time = aware(datetime.fromisoformat(sig["signing_time"].replace("Z", "+00:00")))
        builder.object["seal"] = {
            k: sig.get("object", {}).get(k)
            for k in ("es_id", "seal_name", "signer", "signature_datetime", "has_timestamp")
        }
        signer_der = _signer_cert(package, sig)
    uncovered = builder.object["uncovered"]
    if uncovered:
        builder.fail(
            "ofd.coverage",
            HASH_FAILURE,
            f"{len(uncovered)} part(s) are not covered by the seal and were "
            f"added after sealing: {', '.join(uncovered)}",
        )
    elif signatures:
        builder.passed("ofd.coverage", "every part of the package is covered by the seal")
    identifier, meta = _metadata(builder, custom, files, trust=trust, now=now, tst_verifier=tst_verifier)
    builder.object["identifier"] = identifier
    if meta:
        # named as a service code's report names its licence (object.licence is the identifier)
        builder.object.update(
            licence=identifier,
            type=meta.get("ZZLXDM"),
            type_name=meta.get("ZZMC"),
            issuer=meta.get("ZZBFJGDM"),
            issuer_name=meta.get("ZZBFJG"),
        )
    _signer_issuer(builder, signer_der, identifier)
    check_licence_authorisation(builder, trust, identifier, roles=("signer",))
    _status(builder, identifier, files, files.get(METADATA_NAME), status_lookup, scope, now)


def verify_licence_ofd(
    data: bytes,
    *,
    trust: TrustContext = NO_TRUST,
    now: datetime | None = None,
    tst_verifier: TSTVerifier | None = None,
    status_lookup: StatusLookup | None = None,
    scope: TrustScope | None = None,
) -> VerificationReport:
    """Verify a licence OFD (see the module docstring); kind ``ofd``.

    :param status_lookup: the licence's status by identifier; absent, the status is not checked.
    :param scope: chooses ``trust`` and ``tst_verifier`` by the licence the file names.
    """
    now_ = aware(now) if now is not None else datetime.now(UTC)
    builder = ReportBuilder("ofd")
    try:
        _verify(builder, data, trust, now_, tst_verifier, status_lookup, scope)
    except OFDFormatError as exc:
        builder.fail("package", FORMAT_FAILURE, f"not a readable OFD package: {exc.message}")
    except Exception as exc:  # last line of defence: verification never raises
        log.exception("unexpected error while verifying a licence OFD")
        builder.fail("internal_error", FORMAT_FAILURE, f"the OFD could not be processed ({type(exc).__name__})")
    return builder.build()
