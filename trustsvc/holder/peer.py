"""Redeeming another region's holder code (跨省授权用证): a verifier in region B scans region A's
holder code; B checks it offline against A's trust list, then redeems it *at A* with B's peer key,
and A decides on the holder's consent (which must name ``region:<B>`` or any verifier).

* B's key for A is given to B's service as ``TRUSTSVC_PEER_KEY_<A's region code>`` (a ``peer``
  key A made with ``--label region:<B>``): A learns which region asks from its own record of the
  key, never from what B says.
* B calls only the origin of A's trust list as B imported it (scheme, host and port), without
  following redirects, within ``[trust] fetch_timeout``; A's answer is passed on as it is
  (403 with A's reason code, 422, or the licences).
* Both sides record the use: A as every redeem (``holder.redeem``, and the holder's record),
  B as ``holder.redeem.forward`` (its verifier, the purpose, A's answer).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from sqlalchemy import select

from ..audit import AuditEvent, record
from ..context import TrustService
from ..errors import ConflictError, InvalidInputError, UpstreamTimeoutError
from ..storage.models import TrustPeerRecord, utcnow

__all__ = ["PEER_KEY_ENV", "REDEEM_PATH", "MAX_ANSWER_BYTES", "PeerAnswer", "peer_key", "forward_redeem"]

PEER_KEY_ENV = "TRUSTSVC_PEER_KEY_{region}"
REDEEM_PATH = "/api/v1/holder-codes/redeem"
MAX_ANSWER_BYTES = 4 * 1024 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A peer is asked where its list came from, never where a server redirects."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        fp.close()
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, None)


class PeerAnswer:
    """What the peer answered: its status and JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body


def peer_key(region: str) -> str:
    """This service's key at peer ``region``.

    :raises ConflictError: ``no_peer_key`` when none is configured.
    """
    key = os.environ.get(PEER_KEY_ENV.format(region=region), "").strip()
    if not key:
        raise ConflictError(
            f"no key for region {region} is configured: set {PEER_KEY_ENV.format(region=region)} to a "
            f"peer key region {region} made for this region",
            code="no_peer_key",
        )
    return key


def _redeem_url(service: TrustService, region: str) -> str:
    with service.db.reader() as session:
        row = session.execute(select(TrustPeerRecord).where(TrustPeerRecord.region_code == region)).scalar_one_or_none()
    if row is None:
        raise InvalidInputError(f"region {region}'s trust list is not held here", code="unknown_region", field="code")
    parts = urllib.parse.urlsplit(row.source)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConflictError(
            f"region {region}'s list came from a file; its service address is unknown", code="peer_address_unknown"
        )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, REDEEM_PATH, "", ""))


def _post(url: str, body: dict[str, Any], key: str, timeout: float) -> PeerAnswer:
    req = urllib.request.Request(
        url,
        data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {key}",
            "User-Agent": "trustsvc-holder-redeem/1",
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read(MAX_ANSWER_BYTES + 1)
    except TimeoutError as exc:
        raise UpstreamTimeoutError(f"{url} did not answer within {timeout:g} s") from exc
    except (OSError, urllib.error.URLError) as exc:
        if isinstance(getattr(exc, "reason", None), TimeoutError):
            raise UpstreamTimeoutError(f"{url} did not answer within {timeout:g} s") from exc
        raise ConflictError(f"cannot reach {url}: {type(exc).__name__}", code="peer_unreachable") from exc
    if len(raw) > MAX_ANSWER_BYTES:
        raise ConflictError(f"{url} answered more than {MAX_ANSWER_BYTES} bytes", code="peer_answer_invalid")
    try:
        return PeerAnswer(status, json.loads(raw))
    except ValueError as exc:
        raise ConflictError(f"{url} did not answer JSON (status {status})", code="peer_answer_invalid") from exc


def forward_redeem(
    service: TrustService, region: str, *, text: str, purpose: str, verifier: str, licences: list[str] | None
) -> PeerAnswer:
    """Redeem ``text`` at peer ``region`` with this service's key there, and audit the use here.
    Returns the peer's answer; the caller turns a refusal into the same error here."""
    url = _redeem_url(service, region)
    body: dict[str, Any] = {"code": text, "purpose": purpose, "on_behalf_of": verifier}
    if licences is not None:
        body["licences"] = licences
    answer = None
    try:
        answer = _post(url, body, peer_key(region), float(service.config.trust.fetch_timeout))
    finally:
        error = answer.body.get("error") if answer is not None and isinstance(answer.body, dict) else None
        with service.db.transaction() as session:
            record(
                session,
                AuditEvent(
                    actor=verifier,
                    action="holder.redeem.forward",
                    object_type="region",
                    object_id=region,
                    details={
                        "purpose": purpose,
                        "url": url,
                        "status": answer.status if answer else None,
                        "reason": error.get("code") if isinstance(error, dict) else None,
                        "licences": licences,
                        "at": utcnow().isoformat(),
                    },
                ),
            )
    return answer
