"""A licence version's files (PDF and OFD): rendered from its type's layout, sealed with the
issuing department's signer key and the region TSA, and stored once, as issued.

One pipeline makes both: the face is laid out once (:mod:`trustsvc.licences.face_plan`), the
same metadata, metadata seal and status entry are attached, the same department signer and
region TSA sign; only the container differs. The PDF carries an SM2 ``adbe.pkcs7.detached``
signature (:mod:`trustsvc.licences.pdf_sign`); the OFD the department's GB/T 38540 seal
applied as an SES signature (:mod:`trustsvc.licences.ofd_sign`), the form Chinese OFD readers
verify and draw.

Why a separate transaction from issuance: rendering and signing take tens of milliseconds and
a font or layout problem must not undo an issued licence; the file can always be made again on
demand from what issuance stored (the record, its sealed metadata, the department's seal).
:func:`ensure_licence_file` is idempotent: the first stored file wins and is what every caller
gets back, byte for byte, ever after (its ETag is its SHA-256). Superseded and revoked versions
keep the file they had; a file is only *made* for a licence that is active.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..apikeys import Principal, Role
from ..audit import AuditEvent, record
from ..context import TrustService
from ..errors import ConflictError, NotFoundError
from ..formats.seals.model import SealPicture
from ..formats.seals.parse import parse_seal
from ..sealing import check_seal_usable, default_seal, get_seal, region_timestamper, signer_listed
from ..signing_keys import check_signer
from ..storage.models import CertificateRecord, Department, LicenceFileRecord, LicenceRecord, Region, SealRecord, utcnow
from .catalogue import LicenceType, find_type
from .face_plan import FacePlan, plan_face
from .ofd_sign import seal_ofd
from .ofd_write import OFD_MEDIA_TYPE, OfdAttachment, build_ofd_parts
from .pdf_sign import PdfAttachment, PdfSealSpec, seal_pdf
from .render import LicenceFace, chinese_date, licence_font_path, render_plan_pdf
from .service import CHINA, HOLDER_ID_TYPES, find_licence, get_licence
from .status import effective_status

__all__ = [
    "PDF_MEDIA_TYPE",
    "OFD_MEDIA_TYPE",
    "FILE_FORMATS",
    "METADATA_ATTACHMENT",
    "METADATA_SIGNATURE_ATTACHMENT",
    "STATUS_ATTACHMENT",
    "LicenceFile",
    "ensure_licence_file",
    "licence_file",
    "build_licence_pdf",
    "build_licence_ofd",
    "licence_face",
]

PDF_MEDIA_TYPE = "application/pdf"
FILE_FORMATS = {"pdf": PDF_MEDIA_TYPE, "ofd": OFD_MEDIA_TYPE}
"""A file format's name (``?format=``, ``--format``) and its media type."""
METADATA_ATTACHMENT = "licence-metadata.json"
"""The canonical GB/T 36903 metadata exactly as sealed."""
METADATA_SIGNATURE_ATTACHMENT = "licence-metadata.ses"
"""The department seal's GB/T 38540 SES_Signature over :data:`METADATA_ATTACHMENT`."""
STATUS_ATTACHMENT = "licence-status.json"
"""``{"issuer", "status_index", "status_list"}``: the version's index in its issuer's signed status
list and that list's URL (W3C BitstringStatusListEntry's idea), covered by the PDF signature, so
a verifier in another region finds the licence's bit (:mod:`trustsvc.federation.snapshot`)."""
_STORED_AS_IS = frozenset({METADATA_SIGNATURE_ATTACHMENT})
"""PDF attachments written without ``/FlateDecode``: the SES_Signature is mostly the seal's PNG
picture, already compressed (deflating its ~80 KB again saved 2 % and cost 1.5 ms a file)."""


@dataclass(frozen=True)
class LicenceFile:
    identifier: str
    media_type: str
    content: bytes
    sha256: str

    @property
    def filename(self) -> str:
        return f"licence-{self.identifier}.{'ofd' if self.media_type == OFD_MEDIA_TYPE else 'pdf'}"


@dataclass(frozen=True)
class _SigningInputs:
    """Everything a file needs, read in one short read transaction."""

    row: LicenceRecord
    department: Department
    region_code: str
    seal_der: bytes
    signer: CertificateRecord
    chain: tuple[bytes, ...]


def _stored(session: Session, row: LicenceRecord, media_type: str = PDF_MEDIA_TYPE) -> LicenceFileRecord | None:
    return session.get(LicenceFileRecord, (row.id, media_type))


def _inputs(session: Session, row: LicenceRecord) -> _SigningInputs:
    dept = row.department
    certs = {
        c.slug: c
        for c in session.execute(
            select(CertificateRecord).where(CertificateRecord.slug.in_((f"{dept.uscc}/signer", dept.uscc, "root")))
        ).scalars()
    }
    signer = certs.get(f"{dept.uscc}/signer")
    if signer is None or signer.key_ref is None or dept.uscc not in certs or "root" not in certs:
        raise NotFoundError(
            f"department {dept.uscc} has no signer certificate and CA chain", code="department_incomplete"
        )
    check_signer(session, signer, purpose=f"seal the file of licence {row.identifier}")
    region = session.execute(select(Region)).scalars().first()
    if region is None:
        raise NotFoundError("no region is initialised", code="region_not_found")
    return _SigningInputs(
        row=row,
        department=dept,
        region_code=region.code,
        seal_der=get_seal(session, row.seal_esid).der,
        signer=signer,
        chain=(certs[dept.uscc].der, certs["root"].der),
    )


def _seal_to_apply(session: Session, row: LicenceRecord, signer_der: bytes, now: dt.datetime) -> SealRecord:
    """The seal an OFD made now is sealed with. An OFD applies the seal anew (a PDF is signed with
    the signer key alone), so it is the seal that sealed the licence while that seal may still be
    applied by the department's current signer; after a suspension, revocation or re-key, the
    department's default seal. Never a seal that may not be applied now.

    :raises ConflictError: ``no_seal``, ``seal_suspended`` ... from the default seal.
    """
    seal = get_seal(session, row.seal_esid)
    try:
        check_seal_usable(seal, now)
    except ConflictError:
        pass
    else:
        if signer_listed(parse_seal(seal.der), signer_der):
            return seal
    return default_seal(session, row.department, now)


def licence_face(
    row: LicenceRecord,
    region_code: str,
    seal_der: bytes | None,
    ltype: LicenceType | None = None,
    *,
    seal_picture: SealPicture | None = None,
) -> LicenceFace:
    """What the licence's face shows, from its record, the type version it was issued under and
    the seal that sealed it: every field once with its label (the badge's field in the badge),
    the holder only where no field already names it, the validity as the type calls it."""
    if ltype is None:
        ltype = find_type(region_code, row.type_code, version=row.type_version)
    assert ltype.layout is not None
    layout = ltype.layout
    h = ltype.holder
    derived_id = h.id_field is not None and row.holder_id_type == h.derived_id_type
    derived_name = h.name_field is not None and (h.id_field is None or derived_id)
    holder_rows: list[tuple[str, str]] = []
    if not derived_name:
        holder_rows.append((h.name_label, row.holder_name))
    if not derived_id and h.print_id:
        holder_rows.append((HOLDER_ID_TYPES.get(row.holder_id_type, "证件号码"), row.holder_id))

    def shown(name: str) -> str:
        value = row.fields[name]
        if ltype.by_name[name].type == "date" and isinstance(value, str):
            try:
                return chinese_date(dt.date.fromisoformat(value))
            except ValueError:
                return value
        return str(value)

    badge_field = layout.badge.field if layout.badge.field in row.fields else ""
    printed: list[tuple[str, str]] = []
    for spec in ltype.fields:
        if spec.name in row.fields and spec.name != badge_field:
            printed.append((spec.label, shown(spec.name)))
        if derived_name and spec.name == h.name_field and holder_rows:
            printed += holder_rows  # the id beside the name the face gives (不动产权证书: 权利人, then the id)
            holder_rows = []
    badge = (ltype.by_name[badge_field].label, shown(badge_field)) if badge_field else None
    return LicenceFace(
        type_name=ltype.name,
        identifier=row.identifier,
        holder_name=row.holder_name,
        holder_id_label=HOLDER_ID_TYPES.get(row.holder_id_type, "证件号码"),
        holder_id=row.holder_id,
        fields=tuple(printed),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        department_name=row.department.name,
        issue_date=row.issued_at.astimezone(CHINA).date(),
        seal_picture=seal_picture if seal_picture is not None else parse_seal(seal_der or b"").picture,
        badge=badge,
        holder_rows=tuple(holder_rows),
        validity_label=ltype.validity.label,
        show_validity=ltype.validity.show,
        label_codes=(
            *((spec.label, spec.metadata_code) for spec in ltype.fields),
            (h.name_label, "CZZT"),
            (HOLDER_ID_TYPES.get(row.holder_id_type, "证件号码"), "CZZTDM"),
        ),
    )


def _attached(service: TrustService, row: LicenceRecord) -> tuple[tuple[str, bytes, str, str], ...]:
    """(name, bytes, media type, description) of what both files carry besides the face."""
    return (
        (
            METADATA_ATTACHMENT,
            row.metadata_json.encode("utf-8"),
            "application/json",
            "GB/T 36903 licence metadata (canonical JSON), as sealed",
        ),
        (
            METADATA_SIGNATURE_ATTACHMENT,
            row.metadata_signature,
            "application/octet-stream",
            f"GB/T 38540 SES_Signature of seal {row.seal_esid} over {METADATA_ATTACHMENT}",
        ),
        (
            STATUS_ATTACHMENT,
            status_entry(service, row),
            "application/json",
            "where verifiers in other regions learn this version's status (signed status list)",
        ),
    )


def _plan(service: TrustService, inputs: _SigningInputs, code_text: str | None) -> tuple[LicenceFace, FacePlan]:
    row = inputs.row
    ltype = find_type(inputs.region_code, row.type_code, service.db, version=row.type_version)
    face = licence_face(row, inputs.region_code, inputs.seal_der, ltype)
    assert ltype.layout is not None
    return face, plan_face(face, ltype.layout, font_path=licence_font_path(), code_text=code_text)


def build_licence_pdf(
    service: TrustService,
    inputs: _SigningInputs,
    *,
    code_text: str | None = None,
    signing_time: dt.datetime | None = None,
) -> bytes:
    """Render and seal the PDF (no storage)."""
    return _build(service, inputs, PDF_MEDIA_TYPE, code_text=code_text, signing_time=signing_time)


def build_licence_ofd(
    service: TrustService,
    inputs: _SigningInputs,
    *,
    code_text: str | None = None,
    signing_time: dt.datetime | None = None,
) -> bytes:
    """Render and seal the OFD (no storage)."""
    return _build(service, inputs, OFD_MEDIA_TYPE, code_text=code_text, signing_time=signing_time)


def _metadata_items(row: LicenceRecord) -> tuple[tuple[str, str], ...]:
    """The sealed metadata as OFD CustomData (name, value) pairs, in its canonical key order."""
    meta = json.loads(row.metadata_json)
    return tuple(
        (key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)) for key, value in meta.items()
    )


def _build(
    service: TrustService,
    inputs: _SigningInputs,
    media_type: str,
    *,
    code_text: str | None,
    signing_time: dt.datetime | None,
) -> bytes:
    """The one sealing pipeline: lay out, attach, sign with the department's key and the region
    TSA; the container (PDF or OFD) is the only difference."""
    row = inputs.row
    face, plan = _plan(service, inputs, code_text)
    attached = _attached(service, row)
    when = signing_time or utcnow()
    assert inputs.signer.key_ref is not None
    signer = service.keystore.signer(inputs.signer.key_ref)
    timestamper = region_timestamper(service)
    if media_type == OFD_MEDIA_TYPE:
        parts = build_ofd_parts(
            plan,
            identifier=row.identifier,
            custom_data=_metadata_items(row),
            created=when,
            attachments=tuple(
                OfdAttachment(name, data, name.rsplit(".", 1)[1], description)
                for name, data, _, description in attached
            ),
        )
        return seal_ofd(
            parts,
            plan.seal,
            seal=inputs.seal_der,
            signer=signer,
            signer_cert=inputs.signer.der,
            signing_time=when,
            timestamper=timestamper,
        )
    spec = PdfSealSpec(
        identifier=row.identifier,
        signer_name=inputs.department.name,
        reason=f"{face.type_name} {row.identifier}",
        location=inputs.region_code,
        signing_time=when,
        attachments=tuple(PdfAttachment(*item, compress=item[0] not in _STORED_AS_IS) for item in attached),
    )
    return seal_pdf(
        render_plan_pdf(plan),
        spec,
        signer=signer,
        signer_cert=inputs.signer.der,
        chain=inputs.chain,
        timestamper=timestamper,
    )


def status_entry(service: TrustService, row: LicenceRecord) -> bytes:
    """The :data:`STATUS_ATTACHMENT` of a licence version (canonical JSON)."""
    uscc = row.department.uscc
    return json.dumps(
        {
            "issuer": uscc,
            "status_index": row.status_index,
            "status_list": f"{service.config.server.public_url}/api/v1/status/{uscc}",
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")


def _as_file(row: LicenceRecord, stored: LicenceFileRecord) -> LicenceFile:
    return LicenceFile(
        identifier=row.identifier, media_type=stored.media_type, content=stored.content, sha256=stored.sha256
    )


def ensure_licence_file(
    service: TrustService,
    identifier: str,
    *,
    actor: str = "system",
    code_text: str | None = None,
    media_type: str = PDF_MEDIA_TYPE,
) -> LicenceFile:
    """The licence's stored file (PDF, or OFD with ``media_type`` :data:`OFD_MEDIA_TYPE`), made
    (rendered, sealed, stored) the first time it is asked for. Its QR slot holds ``code_text``,
    by default the version's static service code.

    Concurrent callers all get the one file that was stored first; a signature made by a
    loser is discarded (and audited as such, since it was a key use).

    :raises NotFoundError: no such licence (``licence_not_found``).
    :raises ConflictError: ``licence_not_active`` when it has no file yet and is not active.
    """
    with service.db.reader() as session:
        row = find_licence(session, identifier)
        stored = _stored(session, row, media_type)
        if stored is not None:
            return _as_file(row, stored)
        status = effective_status(row, utcnow())
        if status != "active":
            raise ConflictError(
                f"licence {row.identifier} is {status}; no file is made for it now", code="licence_not_active"
            )
        inputs = _inputs(session, row)
        seal_esid = row.seal_esid
        if media_type == OFD_MEDIA_TYPE:
            applied = _seal_to_apply(session, row, inputs.signer.der, utcnow())
            inputs, seal_esid = dataclasses.replace(inputs, seal_der=applied.der), applied.esid
    if code_text is None:
        # The QR slot carries the version's static service code (kept, so print and API agree).
        from ..codes.service import static_code_text

        code_text = static_code_text(service, row.identifier)
    content = _build(service, inputs, media_type, code_text=code_text, signing_time=None)
    digest = hashlib.sha256(content).hexdigest()
    key_ref = inputs.signer.key_ref or ""
    details = {"media_type": media_type, "sha256": digest, "bytes": len(content), "seal": seal_esid}
    try:
        with service.db.transaction() as session:
            session.add(LicenceFileRecord(licence_id=row.id, media_type=media_type, content=content, sha256=digest))
            session.flush()  # a concurrent winner's row makes this raise before the audit row is written
            record(
                session,
                AuditEvent(
                    actor=actor,
                    action="licence.file",
                    object_type="licence",
                    object_id=row.identifier,
                    key_ref=key_ref,
                    details=details,
                ),
            )
        return LicenceFile(identifier=row.identifier, media_type=media_type, content=content, sha256=digest)
    except IntegrityError:
        pass
    with service.db.transaction() as session:
        record(
            session,
            AuditEvent(
                actor=actor,
                action="licence.file.discard",
                object_type="licence",
                object_id=row.identifier,
                key_ref=key_ref,
                details={**details, "why": "another caller stored this licence's file first"},
            ),
        )
    with service.db.reader() as session:
        winner = _stored(session, row, media_type)
    if winner is None:  # pragma: no cover - the conflicting row cannot vanish: files are never deleted
        raise ConflictError("the licence file could not be stored; try again", code="licence_file_conflict")
    return _as_file(row, winner)


def licence_file(
    service: TrustService, identifier: str, *, principal: Principal, media_type: str = PDF_MEDIA_TYPE
) -> LicenceFile:
    """The file for a principal who may see the licence (its department's issuer, a verifier, an admin).

    Only the department's issuer or an admin may cause a missing file to be made: making it
    signs with the department's key, which a verifier's read must not trigger.

    :raises NotFoundError: ``licence_file_not_made`` for a verifier when none is stored yet.
    """
    row = get_licence(service, identifier, principal=principal)
    if principal.role is Role.VERIFIER:
        with service.db.reader() as session:
            stored = _stored(session, find_licence(session, row.identifier), media_type)
            if stored is None:
                raise NotFoundError(
                    f"licence {row.identifier} has no file yet; its issuer makes it", code="licence_file_not_made"
                )
            return _as_file(row, stored)
    return ensure_licence_file(service, row.identifier, actor=principal.actor, media_type=media_type)
