"""This region's signed trust list (跨省互认; docs/trust-namespaces.md), and how a peer's list is
checked before anything in it is relied on.

**The list.** Canonical JSON (sorted keys, UTF-8, no spaces), certificates as base64 DER::

    {"format": "trustsvc-trust-list/1",
     "region": {"code": "320000", "name": "江苏省"}, "base_url": "https://trust.js.gov.cn",
     "sequence": 12, "issued_at": "2026-12-01T08:00:00Z", "next_update": "2026-12-02T08:00:00Z",
     "roots": [cert], "cas": [cert, ...],
     "trust_list_signers": [{"role": "current" | "next", "cert": cert}],
     "status_list_signers": [cert], "tsa": [cert], "ocsp": [cert],
     "code_signers": [{"kid": "hex8", "state": "current" | "retired", "cert": cert}],
     "issuers": [{"uscc", "name", "ca": cert, "seal_makers": [cert], "signers": [cert],
                  "licence_types": ["…001"], "status_list_url", "ocsp_url",
                  "seals": [{"esid", "sha256", "status", "changes": [{"status", "at", "reason"}]}]}],
     "revoked": [{"sha256", "serial", "revoked_at", "reason"}]}

``roots`` holds the region root (its SHA-256 is the pin peers exchange out of band); ``cas``
the services CA and every department's issuing CA. ``licence_types`` is what the issuer may sign
(per-department grants, ``trustsvc trust authorise``; without grants, the region catalogue's
types). A ``next`` trust-list signer is *announced* before it signs (``trustsvc trust
rotate-signer``): peers holding this list accept the next list from it without re-pinning.
Revoked certificates are left out of the entries and listed in ``revoked`` (SHA-256 of the
certificate, serial, revocation time, RFC 5280 reason): a peer judges a signature by the
revocation time, so objects signed before it keep verifying. ``seals`` gives each seal of the
issuer with its status history (suspended, reinstated, revoked, superseded), for the same
reason. Both keys are optional when reading (lists published before them have neither).

It is CMS SignedData (SM2/SM3, attached, eContentType :data:`TRUST_LIST_CONTENT_TYPE`) by the
current ``trust-list-signer``, carrying the signer and services CA certificates. Like status
lists, a new list (sequence + 1) is signed when the entries change or half-way to
``next_update`` (``[trust] list_next_update``).

**Checking a peer's list** (:func:`verify_trust_list`), fail closed, each refusal with a reason:

* ``trust_list_invalid`` / ``trust_list_bad_signature``: not a well-formed, intact list;
* ``trust_list_pin_mismatch``: no root in it has the pinned SHA-256;
* ``trust_list_signer_untrusted``: the CMS signer is not a listed trust-list signer with the
  trust-list-signing EKU chaining to the pinned root at the list's issue time;
* ``trust_list_signer_not_announced`` (refreshes only): a list is already held and did not
  announce this signer; an explicit import by pin accepts any signer the pinned root certifies;
* ``trust_list_rollback``: a lower sequence than the one held (a replayed list could hide a
  withdrawn CA); ``trust_list_equivocation``: the same sequence with other content;
* ``trust_list_stale``: past ``next_update`` plus the grace.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import unicodedata
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.certs import parse_certificate
from ca.cms import sign_cms, verify_cms
from ca.crl import CRL_REASONS
from ca.errors import CAError
from ca.oids import TRUSTSVC_ARC, TrustSvcEKU
from ca.results import (
    FORMAT_FAILURE,
    HASH_FAILURE,
    NO_CERTIFICATE_CHAIN_FOUND,
    SIG_CONSTRAINTS_FAILURE,
    SIG_CRYPTO_FAILURE,
    TRUST_LIST_STALE,
    TRY_LATER,
)
from hsm.errors import TrustSvcError

from ..audit import AuditEvent, record
from ..codes.format import kid_for
from ..context import TrustService
from ..errors import InvalidInputError, NotInitialisedError
from ..formats.canonical import canonical_json
from ..formats.report import ReportBuilder, VerificationReport
from ..formats.seal_status import PublishedSeal, SealStatusChange
from ..formats.trust import TrustContext, assess_certificate, aware
from ..licences.catalogue import catalogue_for
from ..signing_keys import signing_key
from ..storage.models import (
    CertificateRecord,
    Department,
    LicenceTypeGrant,
    Region,
    RetiredSignerRecord,
    ServiceCodeRecord,
    TrustListRecord,
    utcnow,
)
from ..times import iso_utc as _iso

__all__ = [
    "TRUST_LIST_CONTENT_TYPE",
    "TRUST_LIST_MEDIA_TYPE",
    "TRUST_LIST_FORMAT",
    "TRUST_LIST_SIGNER_SLUG",
    "NEXT_TRUST_LIST_SIGNER_SLUG",
    "IssuerEntry",
    "CodeSignerEntry",
    "TrustList",
    "SignedTrustList",
    "TrustListVerification",
    "TrustListRejected",
    "RevokedCertificate",
    "published_seals",
    "current_trust_list",
    "sign_trust_list",
    "trust_list_entries",
    "verify_trust_list",
    "parse_trust_list_content",
    "issuer_licence_types",
    "NamespaceClaims",
    "namespace_refusal",
    "division_prefix",
    "list_certificates",
    "public_key_id",
]

TRUST_LIST_CONTENT_TYPE = TRUSTSVC_ARC + ".2.1"
"""eContentType of a signed trust list (``.2.2`` is the status list)."""
TRUST_LIST_MEDIA_TYPE = "application/cms"
TRUST_LIST_FORMAT = "trustsvc-trust-list/1"
TRUST_LIST_SIGNER_SLUG = "trust-list-signer"
NEXT_TRUST_LIST_SIGNER_SLUG = "trust-list-signer-next"
CODE_SIGNER_SLUG = "code-signer"
MAX_LIST_BYTES = 8 * 1024 * 1024

_SKEW = dt.timedelta(minutes=5)
_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
_KEYS = {
    "format",
    "region",
    "base_url",
    "sequence",
    "issued_at",
    "next_update",
    "roots",
    "cas",
    "trust_list_signers",
    "status_list_signers",
    "tsa",
    "ocsp",
    "code_signers",
    "issuers",
}
_ISSUER_KEYS = {"uscc", "name", "ca", "seal_makers", "signers", "licence_types", "status_list_url", "ocsp_url"}
_OPTIONAL_KEYS = frozenset({"revoked"})
_OPTIONAL_ISSUER_KEYS = frozenset({"seals"})
_SEAL_STATUSES = frozenset({"active", "suspended", "revoked", "superseded"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SERIAL = re.compile(r"[0-9a-f]{1,64}")
_ESID = re.compile(r"[0-9A-Za-z]{1,32}")
_MAX_SEALS = 10_000
_MAX_REVOKED = 100_000
_USAGE = frozenset({"digital_signature"})
_VOLATILE = ("sequence", "issued_at", "next_update")
_TYPE_CODE = re.compile(r"[0-9A-Z]{1,64}")


class TrustListRejected(InvalidInputError):
    """A peer's list was refused; ``code`` names the reason (``trust_list_rollback`` …)."""

    code = "trust_list_rejected"


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


def _sha256(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


# -- the decoded list ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuerEntry:
    uscc: str
    name: str
    ca: bytes
    seal_makers: tuple[bytes, ...]
    signers: tuple[bytes, ...]
    licence_types: frozenset[str]
    status_list_url: str
    ocsp_url: str
    seals: tuple[PublishedSeal, ...] = ()
    """Every seal of the issuer with its status history (:mod:`trustsvc.formats.seal_status`)."""


@dataclass(frozen=True)
class RevokedCertificate:
    """A certificate the region revoked: peers judge signatures by ``revoked_at``."""

    sha256: str
    serial: str
    revoked_at: dt.datetime
    reason: str


@dataclass(frozen=True)
class CodeSignerEntry:
    kid: bytes
    cert: bytes
    state: str
    """current | retired"""


@dataclass(frozen=True)
class TrustList:
    region_code: str
    region_name: str
    base_url: str
    sequence: int
    issued_at: dt.datetime
    next_update: dt.datetime
    roots: tuple[bytes, ...]
    cas: tuple[bytes, ...]
    trust_list_signers: tuple[tuple[str, bytes], ...]
    """(role, certificate): ``current`` signs now, ``next`` is announced for the next rotation."""
    status_list_signers: tuple[bytes, ...]
    tsa: tuple[bytes, ...]
    ocsp: tuple[bytes, ...]
    code_signers: tuple[CodeSignerEntry, ...]
    issuers: tuple[IssuerEntry, ...]
    content_sha256: str = ""
    """SHA-256 of the entries (the list without sequence and times)."""
    revoked: tuple[RevokedCertificate, ...] | None = None
    """None: the list predates ``revoked`` (it says nothing about revocation)."""

    @property
    def root_pins(self) -> frozenset[str]:
        return frozenset(_sha256(r) for r in self.roots)

    @property
    def announced_signers(self) -> frozenset[str]:
        """SHA-256 of every trust-list signer this list vouches for (current and next)."""
        return frozenset(_sha256(c) for _, c in self.trust_list_signers)

    def issuer(self, uscc: str) -> IssuerEntry | None:
        for entry in self.issuers:
            if entry.uscc == uscc:
                return entry
        return None

    def authorisations(self) -> dict[str, frozenset[str]]:
        """Issuer USCC → licence type codes it may sign."""
        return {i.uscc: i.licence_types for i in self.issuers}

    def summary(self) -> dict[str, Any]:
        return {
            "region": {"code": self.region_code, "name": self.region_name},
            "sequence": self.sequence,
            "issued_at": _iso(self.issued_at),
            "next_update": _iso(self.next_update),
            "base_url": self.base_url,
            "roots": sorted(self.root_pins),
            "trust_list_signers": [{"role": r, "sha256": _sha256(c)} for r, c in self.trust_list_signers],
            "code_signers": [
                {"kid": c.kid.hex(), "state": c.state, "sha256": _sha256(c.cert)} for c in self.code_signers
            ],
            "issuers": [
                {
                    "uscc": i.uscc,
                    "name": i.name,
                    "licence_types": sorted(i.licence_types),
                    "status_list_url": i.status_list_url,
                    "ocsp_url": i.ocsp_url,
                }
                for i in self.issuers
            ],
        }


def _bad(message: str) -> InvalidInputError:
    return InvalidInputError(message, code="trust_list_invalid")


def _cert(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise _bad(f"{where} must be a base64 certificate")
    try:
        der = base64.b64decode(value, validate=True)
        parse_certificate(der)
    except (binascii.Error, ValueError, CAError) as exc:
        raise _bad(f"{where} is not a base64 DER certificate") from exc
    return der


def _certs(value: Any, where: str) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise _bad(f"{where} must be a list")
    return tuple(_cert(v, f"{where}[{i}]") for i, v in enumerate(value))


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 1000:
        raise _bad(f"{where} must be a non-empty string")
    return value


def _name(value: Any, where: str, limit: int = 200) -> str:
    """A display name from a peer: bounded, without control or format characters."""
    text = _text(value, where)
    if len(text) > limit or any(unicodedata.category(c)[0] == "C" for c in text):
        raise _bad(f"{where} must be at most {limit} printable characters")
    return text


def _url(value: Any, where: str) -> str:
    """An http(s) URL with a host and no credentials: a peer's URLs are fetched, never opened as files."""
    text = _text(value, where)
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise _bad(f"{where} is not a URL") from exc
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or any(c.isspace() or unicodedata.category(c)[0] == "C" for c in text)
    ):
        raise _bad(f"{where} must be an http(s) URL with a host and no credentials")
    return text


def _time(value: Any, where: str) -> dt.datetime:
    if not isinstance(value, str) or not _TIME.match(value):
        raise _bad(f"{where} must be a UTC time YYYY-MM-DDTHH:MM:SSZ")
    try:
        parsed = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise _bad(f"{where} is not a time") from exc
    if parsed.year > 2199:  # e.g. 9999-12-31: next_update + grace would overflow wherever staleness is judged
        raise _bad(f"{where} lies beyond 2199")
    return parsed


def _content_digest(doc: Mapping[str, Any]) -> str:
    return _sha256(canonical_json({k: v for k, v in doc.items() if k not in _VOLATILE}))


def parse_trust_list_content(content: bytes) -> TrustList:
    """The list in canonical JSON ``content``; strict (unknown or missing keys are refused).

    :raises InvalidInputError: ``trust_list_invalid``.
    """
    try:
        doc = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad("the trust list is not UTF-8 JSON") from exc
    if not isinstance(doc, dict) or not _KEYS <= set(doc) <= _KEYS | _OPTIONAL_KEYS:
        raise _bad(
            f"the trust list must have exactly the keys {sorted(_KEYS)} (and optionally {sorted(_OPTIONAL_KEYS)})"
        )
    if doc["format"] != TRUST_LIST_FORMAT:
        raise _bad(f"unknown trust list format {doc['format']!r}")
    region = doc["region"]
    if not isinstance(region, dict) or set(region) != {"code", "name"}:
        raise _bad("region must be {code, name}")
    code, name = _text(region["code"], "region.code"), _name(region["name"], "region.name")
    if not re.fullmatch(r"[1-8][0-9]{5}", code):
        raise _bad(f"region code {code!r} is not a GB/T 2260 code")
    sequence = doc["sequence"]
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise _bad("sequence must be a positive integer")
    issued_at, next_update = _time(doc["issued_at"], "issued_at"), _time(doc["next_update"], "next_update")
    if next_update <= issued_at:
        raise _bad("next_update must be after issued_at")
    signers = []
    for i, s in enumerate(doc["trust_list_signers"] if isinstance(doc["trust_list_signers"], list) else [None]):
        if not isinstance(s, dict) or set(s) != {"role", "cert"} or s["role"] not in ("current", "next"):
            raise _bad(f"trust_list_signers[{i}] must be {{role: current|next, cert}}")
        signers.append((s["role"], _cert(s["cert"], f"trust_list_signers[{i}].cert")))
    code_signers = []
    for i, s in enumerate(doc["code_signers"] if isinstance(doc["code_signers"], list) else [None]):
        if not isinstance(s, dict) or set(s) != {"kid", "state", "cert"} or s["state"] not in ("current", "retired"):
            raise _bad(f"code_signers[{i}] must be {{kid, state: current|retired, cert}}")
        cert = _cert(s["cert"], f"code_signers[{i}].cert")
        if s["kid"] != kid_for(cert).hex():
            raise _bad(f"code_signers[{i}].kid is not the kid of its certificate")
        code_signers.append(CodeSignerEntry(kid_for(cert), cert, s["state"]))
    issuers = []
    for i, s in enumerate(doc["issuers"] if isinstance(doc["issuers"], list) else [None]):
        where = f"issuers[{i}]"
        if not isinstance(s, dict) or not _ISSUER_KEYS <= set(s) <= _ISSUER_KEYS | _OPTIONAL_ISSUER_KEYS:
            raise _bad(
                f"{where} must have exactly the keys {sorted(_ISSUER_KEYS)} (and optionally "
                f"{sorted(_OPTIONAL_ISSUER_KEYS)})"
            )
        types = s["licence_types"]
        if (
            not isinstance(types, list)
            or len(types) > 1000
            or not all(isinstance(t, str) and _TYPE_CODE.fullmatch(t) for t in types)
        ):
            raise _bad(f"{where}.licence_types must be a list of type codes (A-Z, 0-9)")
        issuers.append(
            IssuerEntry(
                uscc=_name(s["uscc"], f"{where}.uscc", 64),
                name=_name(s["name"], f"{where}.name"),
                ca=_cert(s["ca"], f"{where}.ca"),
                seal_makers=_certs(s["seal_makers"], f"{where}.seal_makers"),
                signers=_certs(s["signers"], f"{where}.signers"),
                licence_types=frozenset(types),
                status_list_url=_url(s["status_list_url"], f"{where}.status_list_url"),
                ocsp_url=_url(s["ocsp_url"], f"{where}.ocsp_url"),
                seals=_seals(s.get("seals", []), f"{where}.seals"),
            )
        )
    return TrustList(
        region_code=code,
        region_name=name,
        base_url=_url(doc["base_url"], "base_url"),
        sequence=sequence,
        issued_at=issued_at,
        next_update=next_update,
        roots=_certs(doc["roots"], "roots"),
        cas=_certs(doc["cas"], "cas"),
        trust_list_signers=tuple(signers),
        status_list_signers=_certs(doc["status_list_signers"], "status_list_signers"),
        tsa=_certs(doc["tsa"], "tsa"),
        ocsp=_certs(doc["ocsp"], "ocsp"),
        code_signers=tuple(code_signers),
        issuers=tuple(issuers),
        content_sha256=_content_digest(doc),
        revoked=_revoked(doc["revoked"]) if "revoked" in doc else None,
    )


def _reason(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > 500 or any(unicodedata.category(c)[0] == "C" for c in value):
        raise _bad(f"{where} must be at most 500 printable characters")
    return value


def _seals(value: Any, where: str) -> tuple[PublishedSeal, ...]:
    """An issuer's published seals, checked like everything a peer sends."""
    if not isinstance(value, list) or len(value) > _MAX_SEALS:
        raise _bad(f"{where} must be a list of at most {_MAX_SEALS} seals")
    seals = []
    for i, s in enumerate(value):
        at = f"{where}[{i}]"
        if (
            not isinstance(s, dict)
            or set(s) != {"esid", "sha256", "status", "changes"}
            or not isinstance(s["esid"], str)
            or not _ESID.fullmatch(s["esid"])
            or not isinstance(s["sha256"], str)
            or not _HEX64.fullmatch(s["sha256"])
            or s["status"] not in _SEAL_STATUSES
            or not isinstance(s["changes"], list)
            or len(s["changes"]) > 1000
        ):
            raise _bad(f"{at} must be {{esid, sha256 (hex), status: {'|'.join(sorted(_SEAL_STATUSES))}, changes}}")
        changes = []
        for j, c in enumerate(s["changes"]):
            if not isinstance(c, dict) or set(c) != {"status", "at", "reason"} or c["status"] not in _SEAL_STATUSES:
                raise _bad(f"{at}.changes[{j}] must be {{status, at, reason}}")
            changes.append(
                SealStatusChange(
                    c["status"],
                    _time(c["at"], f"{at}.changes[{j}].at"),
                    _reason(c["reason"], f"{at}.changes[{j}].reason"),
                )
            )
        seals.append(
            PublishedSeal(s["esid"], s["sha256"], s["status"], tuple(sorted(changes, key=lambda c: c.effective_at)))
        )
    return tuple(seals)


def _revoked(value: Any) -> tuple[RevokedCertificate, ...]:
    if not isinstance(value, list) or len(value) > _MAX_REVOKED:
        raise _bad(f"revoked must be a list of at most {_MAX_REVOKED} entries")
    out = []
    for i, r in enumerate(value):
        if (
            not isinstance(r, dict)
            or set(r) != {"sha256", "serial", "revoked_at", "reason"}
            or not isinstance(r["sha256"], str)
            or not _HEX64.fullmatch(r["sha256"])
            or not isinstance(r["serial"], str)
            or not _SERIAL.fullmatch(r["serial"])
            or r["reason"] not in CRL_REASONS
        ):
            raise _bad(f"revoked[{i}] must be {{sha256 (hex), serial (hex), revoked_at, reason (RFC 5280)}}")
        out.append(
            RevokedCertificate(
                r["sha256"], r["serial"], _time(r["revoked_at"], f"revoked[{i}].revoked_at"), r["reason"]
            )
        )
    return tuple(out)


def content_of(der: bytes) -> TrustList:
    """Decode a signed list without judging it (a list this service stored after checking)."""
    content = verify_cms(der).encapsulated_content
    if content is None:
        raise _bad("the trust list SignedData has no content")
    return parse_trust_list_content(content)


# -- publishing ---------------------------------------------------------------------------------


def issuer_licence_types(session: Session, dept: Department, region_code: str) -> list[str]:
    """The licence types the department may sign: its grants, else the region's catalogue."""
    granted = sorted(
        session.execute(select(LicenceTypeGrant.type_code).where(LicenceTypeGrant.department_id == dept.id)).scalars()
    )
    return granted or sorted(t.code for t in catalogue_for(region_code))


def _listed_code_signer(
    session: Session, row: CertificateRecord, retired: dict[int, dt.datetime], now: dt.datetime, overlap: dt.timedelta
) -> str | None:
    """``current``, ``retired`` (still listed) or None (no longer listed)."""
    if row.slug == CODE_SIGNER_SLUG:
        return "current"
    retired_at = retired.get(row.id)
    if retired_at is None:
        return None
    if now < retired_at + overlap:
        return "retired"
    live = session.execute(
        select(ServiceCodeRecord.id)
        .where(
            ServiceCodeRecord.signer_sha256 == row.sha256,
            or_(ServiceCodeRecord.expires_at.is_(None), ServiceCodeRecord.expires_at > now),
        )
        .limit(1)
    ).first()
    return "retired" if live is not None else None


def trust_list_entries(service: TrustService, session: Session, now: dt.datetime) -> dict[str, Any]:
    """Everything the list says but its sequence and times, from this service's records."""
    region = session.execute(select(Region)).scalars().first()
    if region is None:
        raise NotInitialisedError("no region is initialised here; run `trustsvc init`")
    every = list(session.execute(select(CertificateRecord).order_by(CertificateRecord.id)).scalars())
    certs = [c for c in every if c.status != "revoked"]
    retired = {r.certificate_id: r.retired_at for r in session.execute(select(RetiredSignerRecord)).scalars()}
    base = service.config.server.public_url
    overlap = dt.timedelta(seconds=service.config.trust.code_signer_overlap)
    signers = [
        {"role": "current" if c.slug == TRUST_LIST_SIGNER_SLUG else "next", "cert": _b64(c.der)}
        for c in certs
        if c.slug in (TRUST_LIST_SIGNER_SLUG, NEXT_TRUST_LIST_SIGNER_SLUG)
    ]
    code_signers = []
    for c in certs:
        if c.profile == "code_signer":
            state = _listed_code_signer(session, c, retired, now, overlap)
            if state is not None:
                code_signers.append({"kid": kid_for(c.der).hex(), "state": state, "cert": _b64(c.der)})
    issuers = []
    for dept in session.execute(select(Department).order_by(Department.uscc)).scalars():
        mine = [c for c in certs if c.department_id == dept.id]
        ca = next((c for c in mine if c.profile == "issuing_ca"), None)
        if ca is None:
            continue
        issuers.append(
            {
                "uscc": dept.uscc,
                "name": dept.name,
                "ca": _b64(ca.der),
                "seal_makers": [_b64(c.der) for c in mine if c.profile == "seal_maker"],
                "signers": [_b64(c.der) for c in mine if c.profile == "signer"],
                "licence_types": issuer_licence_types(session, dept, region.code),
                "status_list_url": f"{base}/api/v1/status/{dept.uscc}",
                "ocsp_url": f"{base}/api/v1/ocsp",
                "seals": published_seals(session, dept),
            }
        )
    return {
        "format": TRUST_LIST_FORMAT,
        "region": {"code": region.code, "name": region.name},
        "base_url": base,
        "roots": [_b64(c.der) for c in certs if c.profile == "root_ca"],
        "cas": [_b64(c.der) for c in certs if c.profile == "issuing_ca"],
        "trust_list_signers": signers,
        "status_list_signers": [_b64(c.der) for c in certs if c.profile == "status_list_signer"],
        "tsa": [_b64(c.der) for c in certs if c.profile == "tsa"],
        "ocsp": [_b64(c.der) for c in certs if c.profile == "ocsp"],
        "code_signers": code_signers,
        "issuers": issuers,
        "revoked": [
            {
                "sha256": c.sha256,
                "serial": c.serial_hex,
                "revoked_at": _iso(c.revoked_at),
                "reason": c.revocation_reason or "unspecified",
            }
            for c in every
            if c.status == "revoked" and c.revoked_at is not None
        ],
    }


def published_seals(session: Session, dept: Department) -> list[dict[str, Any]]:
    """The department's seals with their status histories, as the trust list carries them."""
    from ..storage.models import SealRecord, SealStatusEventRecord

    seals = list(
        session.execute(select(SealRecord).where(SealRecord.department_id == dept.id).order_by(SealRecord.id)).scalars()
    )
    events: dict[int, list[SealStatusEventRecord]] = {}
    if seals:
        for e in session.execute(
            select(SealStatusEventRecord)
            .where(SealStatusEventRecord.seal_id.in_([s.id for s in seals]))
            .order_by(SealStatusEventRecord.effective_at, SealStatusEventRecord.id)
        ).scalars():
            events.setdefault(e.seal_id, []).append(e)
    return [
        {
            "esid": s.esid,
            "sha256": s.sha256,
            "status": s.status,
            "changes": [
                {"status": e.status, "at": _iso(e.effective_at), "reason": e.reason} for e in events.get(s.id, [])
            ],
        }
        for s in seals
    ]


@dataclass(frozen=True)
class SignedTrustList:
    der: bytes
    sha256: str
    """Hex SHA-256 of ``der``: the HTTP ETag."""
    refresh_at: dt.datetime
    trust_list: TrustList

    @property
    def sequence(self) -> int:
        return self.trust_list.sequence

    def max_age(self, now: dt.datetime | None = None) -> int:
        return max(0, int((self.refresh_at - aware(now or utcnow())).total_seconds()))


def _signed(row: TrustListRecord) -> SignedTrustList:
    return SignedTrustList(
        der=row.body,
        sha256=row.sha256,
        refresh_at=row.issued_at + (row.next_update - row.issued_at) / 2,
        trust_list=content_of(row.body),
    )


def sign_trust_list(
    service: TrustService,
    session: Session,
    entries: Mapping[str, Any],
    *,
    sequence: int,
    issued_at: dt.datetime,
    next_update: dt.datetime,
    signer_slug: str = TRUST_LIST_SIGNER_SLUG,
) -> tuple[bytes, CertificateRecord]:
    """Sign ``entries`` as list ``sequence`` (nothing stored, nothing audited: the caller does)."""
    signer = session.execute(
        select(CertificateRecord).where(CertificateRecord.slug == signer_slug)
    ).scalar_one_or_none()
    if signer is None or signer.key_ref is None or signer.issuer is None:
        raise NotInitialisedError(f"this region has no {signer_slug}; run `trustsvc init`")
    content = canonical_json(
        {**entries, "sequence": sequence, "issued_at": _iso(issued_at), "next_update": _iso(next_update)}
    )
    list_signer = signing_key(service, session, signer, purpose="sign the trust list", now=issued_at)
    der = sign_cms(
        content,
        signer=list_signer,
        signer_cert=signer.der,
        extra_certs=[signer.issuer.der],
        detached=False,
        content_type=TRUST_LIST_CONTENT_TYPE,
        signing_time=issued_at,
    )
    return der, signer


def _latest(session: Session) -> TrustListRecord | None:
    return session.execute(
        select(TrustListRecord).order_by(TrustListRecord.sequence.desc()).limit(1)
    ).scalar_one_or_none()


def _up_to_date(latest: TrustListRecord, digest: str, now: dt.datetime) -> bool:
    return latest.content_sha256 == digest and now < latest.issued_at + (latest.next_update - latest.issued_at) / 2


def current_trust_list(service: TrustService, *, now: dt.datetime | None = None) -> SignedTrustList:
    """This region's current signed list: the stored one while its entries are unchanged and it
    is not half-way to ``next_update``; else a new one (sequence + 1), signed, stored, audited."""
    now = aware(now or utcnow())
    with service.db.reader() as session:
        digest = _content_digest(trust_list_entries(service, session, now))
        latest = _latest(session)
        if latest is not None and _up_to_date(latest, digest, now):
            return _signed(latest)
    try:
        with service.db.transaction() as session:
            entries = trust_list_entries(service, session, now)
            digest = _content_digest(entries)
            latest = _latest(session)
            if latest is not None and _up_to_date(latest, digest, now):
                return _signed(latest)
            issued = now.replace(microsecond=0)
            next_update = issued + dt.timedelta(seconds=service.config.trust.list_next_update)
            sequence = (latest.sequence if latest is not None else 0) + 1
            der, signer = sign_trust_list(
                service, session, entries, sequence=sequence, issued_at=issued, next_update=next_update
            )
            row = TrustListRecord(
                sequence=sequence,
                issued_at=issued,
                next_update=next_update,
                body=der,
                sha256=_sha256(der),
                content_sha256=digest,
                signer_sha256=signer.sha256,
            )
            session.add(row)
            session.flush()
            record(
                session,
                AuditEvent(
                    actor="system",
                    action="trust_list.issue",
                    object_type="trust_list",
                    object_id=str(sequence),
                    key_ref=signer.key_ref or "",
                    details={
                        "sequence": sequence,
                        "sha256": row.sha256,
                        "content_sha256": digest,
                        "issuers": len(entries["issuers"]),
                    },
                ),
            )
            return _signed(row)
    except IntegrityError:
        with service.db.reader() as session:
            winner = _latest(session)
            assert winner is not None
            return _signed(winner)


# -- checking a peer's list ---------------------------------------------------------------------


@dataclass(frozen=True)
class TrustListVerification:
    report: VerificationReport
    trust_list: TrustList | None
    """The decoded list when it was readable (vouched for only when :attr:`accepted`)."""
    reason: str | None = None
    """The error code of the first refusal (``trust_list_rollback`` …), None when accepted."""
    unchanged: bool = False
    """The same list as the one held (same sequence and bytes): nothing to do."""

    @property
    def accepted(self) -> bool:
        return self.reason is None and self.trust_list is not None

    def raise_if_refused(self) -> TrustList:
        if self.reason is not None or self.trust_list is None:
            raise TrustListRejected(self.report.message, code=self.reason or "trust_list_invalid")
        return self.trust_list


@dataclass
class _Verdict:
    builder: ReportBuilder
    reason: str | None = None
    reasons: list[str] = field(default_factory=list)

    def refuse(self, reason: str, name: str, sub: str, detail: str, *, indeterminate: bool = False) -> None:
        if indeterminate:
            self.builder.indeterminate(name, sub, detail)
        else:
            self.builder.fail(name, sub, detail)
        if self.reason is None:
            self.reason = reason


def _check_result(builder: ReportBuilder, name: str) -> str | None:
    for c in reversed(builder.checks):
        if c.name == name:
            return c.result
    return None


def verify_trust_list(
    data: bytes,
    *,
    pin: str,
    held: TrustList | None = None,
    held_der: bytes | None = None,
    now: dt.datetime | None = None,
    grace: dt.timedelta = dt.timedelta(days=1),
    require_announced: bool = True,
) -> TrustListVerification:
    """Check a peer's signed list against the pin and the list already held (see the module
    docstring). Never raises for bad input.

    :param require_announced: with a held list, the signer must be one it listed (current or
        next). Refreshes require it; an operator's explicit import by pin does not (the pin
        vouches again), which is how a peer that missed an announcement catches up.
    """
    now = aware(now or utcnow())
    pin = pin.strip().lower()
    v = _Verdict(ReportBuilder("trust_list"))
    b = v.builder
    if len(data) > MAX_LIST_BYTES:
        v.refuse("trust_list_invalid", "trust_list.format", FORMAT_FAILURE, f"larger than {MAX_LIST_BYTES} bytes")
        return TrustListVerification(b.build(), None, v.reason)
    try:
        cms = verify_cms(bytes(data))
    except (CAError, TrustSvcError, TypeError) as exc:
        v.refuse(
            "trust_list_invalid",
            "trust_list.format",
            FORMAT_FAILURE,
            f"not a CMS SignedData: {getattr(exc, 'message', type(exc).__name__)}",
        )
        return TrustListVerification(b.build(), None, v.reason)
    for c in cms.checks:
        if c.failed:
            v.refuse(
                "trust_list_bad_signature",
                c.name,
                HASH_FAILURE if c.name.endswith("message_digest") else SIG_CRYPTO_FAILURE,
                c.detail,
            )
        else:
            b.check(c.name, c.result, c.detail)
    if cms.content_type != TRUST_LIST_CONTENT_TYPE:
        v.refuse(
            "trust_list_invalid",
            "trust_list.content_type",
            FORMAT_FAILURE,
            f"eContentType {cms.content_type} is not a trust list ({TRUST_LIST_CONTENT_TYPE})",
        )
        return TrustListVerification(b.build(), None, v.reason)
    try:
        parsed = parse_trust_list_content(cms.encapsulated_content or b"")
    except InvalidInputError as exc:
        v.refuse("trust_list_invalid", "trust_list.format", FORMAT_FAILURE, f"unreadable trust list: {exc.message}")
        return TrustListVerification(b.build(), None, v.reason)
    b.passed(
        "trust_list.format",
        f"{TRUST_LIST_FORMAT} of region {parsed.region_code} {parsed.region_name}, "
        f"sequence {parsed.sequence}, {len(parsed.issuers)} issuer(s)",
    )
    b.object.update(
        {
            "region": parsed.region_code,
            "region_name": parsed.region_name,
            "sequence": parsed.sequence,
            "issued_at": _iso(parsed.issued_at),
            "next_update": _iso(parsed.next_update),
        }
    )
    b.signing_time = cms.signing_time or parsed.issued_at
    # the pin: the region's root, exchanged out of band
    root = next((r for r in parsed.roots if _sha256(r) == pin), None)
    if root is None:
        # never name the root the list does hold: an operator must not be invited to copy a pin
        # from the very list the pin is there to check; the pin comes from the peer, out of band
        v.refuse(
            "trust_list_pin_mismatch",
            "trust_list.pin",
            NO_CERTIFICATE_CHAIN_FOUND,
            f"the trust list of region {parsed.region_code} does not match the pin given: none of its root "
            "certificates has that SHA-256. Check the pin with the region's operator, out of band "
            "(`trustsvc trust pin` there); do not take it from the list itself",
        )
    else:
        b.passed("trust_list.pin", f"the list's root {parse_certificate(root).subject_str!r} is the pinned one")
    if held is not None and held.region_code != parsed.region_code:
        v.refuse(
            "trust_list_region_mismatch",
            "trust_list.region",
            SIG_CONSTRAINTS_FAILURE,
            f"the list is region {parsed.region_code}'s, but this peer is region {held.region_code}",
        )
    # the signer: a listed trust-list signer certified by the pinned root (and announced before)
    signer = cms.signer_cert_der
    if signer is None:
        v.refuse(
            "trust_list_signer_untrusted",
            "trust_list.signer",
            SIG_CONSTRAINTS_FAILURE,
            "the signer certificate is not in the list's SignedData",
        )
    elif root is not None:
        assess_certificate(
            b,
            "signer",
            signer,
            trust=TrustContext(anchors=(root,), intermediates=parsed.cas),
            at=parsed.issued_at,
            now=now,
            required_key_usage=_USAGE,
            required_eku=TrustSvcEKU.TRUST_LIST_SIGNING,
            extra_intermediates=cms.certificates,
        )
        if _check_result(b, "signer.path") != "passed":
            v.refuse(
                "trust_list_signer_untrusted",
                "trust_list.signer",
                SIG_CONSTRAINTS_FAILURE,
                "the list is not signed by a trust-list signer certified by the pinned root",
            )
        elif _sha256(signer) not in parsed.announced_signers:
            v.refuse(
                "trust_list_signer_untrusted",
                "trust_list.signer",
                SIG_CONSTRAINTS_FAILURE,
                "the list's signer is not one of the trust-list signers it lists",
            )
        elif require_announced and held is not None and _sha256(signer) not in held.announced_signers:
            v.refuse(
                "trust_list_signer_not_announced",
                "trust_list.signer",
                SIG_CONSTRAINTS_FAILURE,
                f"the list is signed by a trust-list signer that the held list (sequence {held.sequence}) "
                "did not announce (the region rotated it before this service refreshed); import the "
                "list again by pin to follow",
            )
        else:
            b.passed(
                "trust_list.signer",
                "signed by a trust-list signer certified by the pinned root"
                + (" and announced in the held list" if held is not None else ""),
            )
    # rollback, equivocation
    unchanged = False
    if held is not None:
        if parsed.sequence < held.sequence:
            v.refuse(
                "trust_list_rollback",
                "trust_list.sequence",
                SIG_CONSTRAINTS_FAILURE,
                f"sequence {parsed.sequence} is older than sequence {held.sequence} already held (a replayed list?)",
            )
        elif parsed.sequence == held.sequence:
            if held_der is not None and bytes(data) != held_der and parsed.content_sha256 != held.content_sha256:
                v.refuse(
                    "trust_list_equivocation",
                    "trust_list.sequence",
                    SIG_CONSTRAINTS_FAILURE,
                    f"sequence {parsed.sequence} is held with other content",
                )
            else:
                unchanged = True
                b.passed("trust_list.sequence", f"sequence {parsed.sequence} is the one held: no change")
        else:
            b.passed("trust_list.sequence", f"sequence {parsed.sequence} is newer than {held.sequence} held")
    else:
        b.passed("trust_list.sequence", f"first list of region {parsed.region_code}: sequence {parsed.sequence}")
    # freshness
    if parsed.issued_at > now + _SKEW:
        v.refuse(
            "trust_list_invalid",
            "trust_list.freshness",
            TRY_LATER,
            f"issued at {_iso(parsed.issued_at)}, in the future (check the clocks)",
            indeterminate=True,
        )
    elif now > parsed.next_update + grace:
        v.refuse(
            "trust_list_stale",
            "trust_list.freshness",
            TRUST_LIST_STALE,
            f"stale: next_update {_iso(parsed.next_update)} plus the grace of {int(grace.total_seconds())} s "
            "has passed; the region must publish a newer list",
            indeterminate=True,
        )
    elif now > parsed.next_update:
        b.warn("trust_list.freshness", f"past next_update {_iso(parsed.next_update)}, within the grace")
    else:
        b.passed("trust_list.freshness", f"fresh until {_iso(parsed.next_update)}")
    return TrustListVerification(b.build(), parsed, v.reason, unchanged and v.reason is None)


# -- namespaces: what a peer's list may claim -----------------------------------------------------


@dataclass(frozen=True)
class NamespaceClaims:
    """What other anchors hold already (this region, the other peers); a peer's list may claim
    none of it, else one anchor could speak in another's name."""

    local_issuers: frozenset[str] = frozenset()
    """USCCs of this region's departments."""
    peer_issuers: Mapping[str, str] = field(default_factory=dict)
    """Issuer USCC → region code of the other peer whose held list vouches for it."""
    local_keys: frozenset[str] = frozenset()
    """:func:`public_key_id` of every certificate this region holds of its own."""
    peer_keys: Mapping[str, str] = field(default_factory=dict)
    """:func:`public_key_id` → region code of the other peer whose held list carries it."""
    national_issuers: tuple[str, ...] = ()
    """``[trust] national_issuers``: USCCs or division prefixes exempt from the region rule."""


def public_key_id(der: bytes) -> str:
    """SHA-256 of a certificate's public key (the point, so one key matches however its
    algorithm is encoded): a new certificate over someone else's key is still their key."""
    return _sha256(parse_certificate(der).public_key_point)


def list_certificates(tl: TrustList) -> Iterator[tuple[str, bytes]]:
    """Every certificate of a list with where it stands (``cas[0]``, ``issuers[3].signers[0]`` …)."""
    for name in ("roots", "cas", "status_list_signers", "tsa", "ocsp"):
        for i, der in enumerate(getattr(tl, name)):
            yield f"{name}[{i}]", der
    for i, (_, der) in enumerate(tl.trust_list_signers):
        yield f"trust_list_signers[{i}]", der
    for i, c in enumerate(tl.code_signers):
        yield f"code_signers[{i}]", c.cert
    for i, issuer in enumerate(tl.issuers):
        yield f"issuers[{i}].ca", issuer.ca
        for role in ("seal_makers", "signers"):
            for j, der in enumerate(getattr(issuer, role)):
                yield f"issuers[{i}].{role}[{j}]", der


def division_prefix(region_code: str) -> str:
    """The digits of a GB/T 2260 code that name its area: a province (``320000``) by its first
    2, a prefecture (``320100``) by its first 4, anything finer (a county, or a city under the
    province like ``419001``) by all 6. An issuer lies in the region when the division digits
    of its USCC (characters 3-8) start with them."""
    if region_code.endswith("0000"):
        return region_code[:2]
    if region_code.endswith("00"):
        return region_code[:4]
    return region_code


def _national(uscc: str, national: tuple[str, ...]) -> bool:
    division = uscc[2:8]
    return any(uscc == n or (len(n) < 18 and division.startswith(n)) for n in national)


def namespace_refusal(tl: TrustList, claims: NamespaceClaims) -> tuple[str, str] | None:
    """The first reason a peer's list cannot be held beside what ``claims`` holds, as
    ``(code, message)``, or None. In order: an issuer USCC failing GB 32100 (or listed twice),
    naming a local department, held by another peer, outside the list's region (unless
    national), then any certificate whose public key is this region's or another peer's."""
    from ..formats.uscc import validate_uscc

    seen: set[str] = set()
    for i, issuer in enumerate(tl.issuers):
        shown = repr(issuer.uscc[:40])
        try:
            valid = validate_uscc(issuer.uscc) == issuer.uscc
        except InvalidInputError as exc:
            return (
                "trust_list_issuer_invalid",
                f"issuers[{i}]: {shown} is not a unified social credit code: {exc.message}",
            )
        if not valid:
            return "trust_list_issuer_invalid", f"issuers[{i}]: {shown} is not in canonical (upper-case) form"
        if issuer.uscc in seen:
            return "trust_list_issuer_invalid", f"issuers[{i}]: {shown} is listed twice"
        seen.add(issuer.uscc)
    for issuer in tl.issuers:
        if issuer.uscc in claims.local_issuers:
            return "trust_list_issuer_is_local", (
                f"region {tl.region_code} lists issuer {issuer.uscc}, a department of this region: only this "
                "region's root vouches for its own departments"
            )
    for issuer in tl.issuers:
        holder = claims.peer_issuers.get(issuer.uscc)
        if holder is not None:
            return "trust_list_issuer_held_by_peer", (
                f"region {tl.region_code} lists issuer {issuer.uscc}, which peer region {holder} vouches for already"
            )
    prefix = division_prefix(tl.region_code)
    for issuer in tl.issuers:
        if not issuer.uscc[2:8].startswith(prefix) and not _national(issuer.uscc, claims.national_issuers):
            return "trust_list_issuer_outside_region", (
                f"region {tl.region_code} lists issuer {issuer.uscc}, registered in division {issuer.uscc[2:8]}, "
                f"outside its own (codes starting {prefix}); a national issuer must be listed in "
                "[trust] national_issuers"
            )
    for where, der in list_certificates(tl):
        key = public_key_id(der)
        owner = (
            "this region"
            if key in claims.local_keys
            else (f"peer region {claims.peer_keys[key]}" if key in claims.peer_keys else None)
        )
        if owner is not None:
            return "trust_list_ca_key_collision", (
                f"region {tl.region_code}'s {where} ({parse_certificate(der).subject_str}) has the public key of a "
                f"certificate of {owner}: a list may certify only keys of its own"
            )
    return None
