"""Public PKI downloads: CA certificates and CRLs (no key needed: relying parties fetch these)."""

from __future__ import annotations

from asn1crypto import pem
from flask import Blueprint, Response, jsonify, request

from trustsvc import pki
from trustsvc.errors import InvalidInputError
from trustsvc.times import iso_utc

from ..request import service

bp = Blueprint("pki", __name__)


def _der_or_pem(der: bytes, *, label: str, mimetype: str, filename: str) -> Response:
    fmt = request.args.get("format", "der")
    if fmt == "pem":
        return Response(
            pem.armor(label, der),
            mimetype="application/x-pem-file",
            headers={"Content-Disposition": f'attachment; filename="{filename}.pem"'},
        )
    if fmt != "der":
        raise InvalidInputError("format must be der or pem", code="invalid_format", field="format")
    return Response(der, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/ca")
def list_cas() -> Response:
    rows = pki.read_cas(service().db)
    return jsonify(
        [
            {
                "slug": r.slug,
                "subject": r.subject,
                "profile": r.profile,
                "sha256": r.sha256,
                "serial": r.serial_hex,
                "not_before": iso_utc(r.not_before),
                "not_after": iso_utc(r.not_after),
                "links": {"certificate": f"/api/v1/ca/{r.slug}", "crl": f"/api/v1/crl/{r.slug}"},
            }
            for r in rows
        ]
    )


@bp.get("/ca/<slug>")
def ca_certificate(slug: str) -> Response:
    der = pki.read_ca_der(service().db, slug)
    return _der_or_pem(der, label="CERTIFICATE", mimetype="application/pkix-cert", filename=f"{slug}.cer")


@bp.get("/crl/<slug>")
def crl(slug: str) -> Response:
    der = pki.current_crl(service(), slug)
    resp = _der_or_pem(der, label="X509 CRL", mimetype="application/pkix-crl", filename=f"{slug}.crl")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp
