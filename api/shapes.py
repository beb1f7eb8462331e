"""The API's JSON shapes that carry links: the domain gives a licence's or a seal's fields
(:func:`trustsvc.licences.service.licence_body`, :mod:`trustsvc.seal_lifecycle`), the API adds
where to find and act on it. The domain never knows a URL."""

from __future__ import annotations

from typing import Any

from trustsvc.licences.service import licence_body
from trustsvc.storage.models import LicenceRecord

__all__ = ["licence_json", "licence_links", "redeemed_licence_json", "seal_json"]


def licence_links(row: LicenceRecord) -> dict[str, str]:
    """Where a licence, its actions, its file, its issuer's status list and its seal are."""
    base = f"/api/v1/licences/{row.identifier}"
    return {
        "self": base,
        "revoke": f"{base}/revoke",
        "suspend": f"{base}/suspend",
        "reinstate": f"{base}/reinstate",
        "change": f"{base}/change",
        "renew": f"{base}/renew",
        "file": f"{base}/file",
        "status_list": f"/api/v1/status/{row.department.uscc}",
        "seal": f"/api/v1/seals/{row.seal_esid}",
    }


def licence_json(row: LicenceRecord) -> dict[str, Any]:
    """The HTTP API's licence object (README, "HTTP API"): the domain's body and its links."""
    return {**licence_body(row), "links": licence_links(row)}


def redeemed_licence_json(row: LicenceRecord) -> dict[str, Any]:
    """A licence in a redeemed holder code's answer: the licence object and its file's link."""
    body = licence_json(row)
    body["file"] = body["links"]["file"]
    return body


def seal_json(seal: dict[str, Any]) -> dict[str, Any]:
    """The HTTP API's seal object: the domain's (``show_seal`` and friends) and its links."""
    esid = seal["esid"]
    return {
        **seal,
        "links": {
            "self": f"/api/v1/seals/{esid}",
            "esl": f"/api/v1/seals/{esid}?format=esl",
            "sign": f"/api/v1/seals/{esid}/sign",
        },
    }
