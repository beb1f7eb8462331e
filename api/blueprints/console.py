"""The issuer console (``/console``): sign in with an API key, issue through a form generated
from the licence type's field schema, list, view, suspend, reinstate and revoke.

The session cookie (signed, HttpOnly, SameSite=Lax, Secure over https, path ``/console``)
holds the key's id and a CSRF token, never the key; every request resolves the key again,
so revoking it ends the session. Every POST form carries the CSRF token. No scripts.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import os
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    has_request_context,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from hsm.errors import TrustSvcError
from trustsvc.apikeys import Principal, Role
from trustsvc.context import TrustService
from trustsvc.errors import (
    AuthenticationError,
    FieldProblem,
    InvalidInputError,
    MalformedRequestError,
    NotInitialisedError,
    PermissionDeniedError,
)
from trustsvc.licences import operations
from trustsvc.licences.catalogue import LicenceType, catalogue_for, find_type
from trustsvc.licences.files import licence_file
from trustsvc.licences.listing import LICENCE_STATUSES, licence_history, list_licences
from trustsvc.licences.masking import ORGANISATION_ID_TYPE, PERSON_ID_TYPE
from trustsvc.licences.public import status_now
from trustsvc.licences.service import (
    HOLDER_ID_TYPES,
    LicenceRequest,
    get_licence,
    reinstate_licence,
    revoke_licence,
    suspend_licence,
)
from trustsvc.pki import read_departments, region_code_or_blank
from trustsvc.signin import resolve_session_secret, session_principal, sign_in, sign_out

from ..html import domain_error_page, http_error_page, page_headers, status_for
from ..request import service
from ..shapes import licence_json

__all__ = ["bp", "init_console", "SESSION_LIFETIME", "COOKIE_NAME"]

log = logging.getLogger("trustsvc.api")
bp = Blueprint("console", __name__, url_prefix="/console")

F = TypeVar("F", bound=Callable[..., Any])
SESSION_LIFETIME = dt.timedelta(hours=8)
COOKIE_NAME = "trustsvc_console"
PAGE_SIZE = 50
STATUS_NAMES = {
    "active": "有效 active",
    "suspended": "中止 suspended",
    "revoked": "注销 revoked",
    "superseded": "已更新 superseded",
    "expired": "过期 expired",
}
ACTIONS: dict[str, tuple[str, Callable[..., Any]]] = {
    "revoke": ("注销 Revoke", revoke_licence),
    "suspend": ("中止 Suspend", suspend_licence),
    "reinstate": ("恢复 Reinstate", reinstate_licence),
}


class _ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, made Secure whenever the request itself came over https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (has_request_context() and request.is_secure)


def init_console(app: Flask, svc: TrustService) -> None:
    """Give the app the console's session settings and secret (see :mod:`trustsvc.signin`).
    Without a secret the console answers 503 ``console_not_configured``; the API is unaffected."""
    if not app.config.get("SECRET_KEY"):
        secret = resolve_session_secret(svc.config, os.environ)
        if secret is None:
            log.warning("console disabled: set TRUSTSVC_SECRET_KEY or [server] session_secret_file")
        else:
            app.secret_key = secret
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    if svc.config.server.public_url.startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.session_interface = _ConsoleSessionInterface()


# -- request plumbing ---------------------------------------------------------------------------


def _source() -> str:
    return request.remote_addr or ""


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "status_names": STATUS_NAMES, "principal": g.get("console_principal")}


@bp.before_request
def _guard() -> None:
    if not current_app.secret_key:
        raise NotInitialisedError(
            "the console needs a session secret: set TRUSTSVC_SECRET_KEY or [server] session_secret_file",
            code="console_not_configured",
        )
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        expected = session.get("csrf")
        if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise MalformedRequestError(
                "the form's security token is missing or stale; reload the page and submit again", code="csrf_failed"
            )


@bp.after_request
def _headers(resp: Response) -> Response:
    return page_headers(resp, private=True)


@bp.errorhandler(TrustSvcError)
def _domain_error(exc: TrustSvcError) -> Response:
    return domain_error_page(exc)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return http_error_page(exc)


def _signed_in(fn: F) -> F:
    """Resolve the session's key (again) or send the browser to the log-in page."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key_id = session.get("key_id")
        if not isinstance(key_id, str):
            return redirect(url_for("console.login"), 303)
        try:
            g.console_principal = session_principal(service(), key_id)
        except AuthenticationError as exc:
            session.clear()
            flash(f"{exc.code}: {exc.message}", "error")
            return redirect(url_for("console.login"), 303)
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _principal() -> Principal:
    return g.console_principal  # type: ignore[no-any-return]


def _region_code() -> str:
    return region_code_or_blank(service().db)


def _types_for(p: Principal) -> tuple[LicenceType, ...]:
    types = catalogue_for(_region_code(), service().db)
    if p.role is Role.ADMIN:
        return types
    return tuple(t for t in types if t.code in p.licence_types)


def _page(template: str, http_status: int = 200, **context: Any) -> Response:
    return make_response(render_template(template, **context), http_status)


# -- sign in and out ----------------------------------------------------------------------------
# (the home page, /console, is the dashboard: api.blueprints.console_dashboard)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        return _page("console/login.html")
    try:
        principal = sign_in(service(), request.form.get("api_key", ""), source=_source())
    except (AuthenticationError, PermissionDeniedError) as exc:
        return _page("console/login.html", status_for(exc), error=exc)
    session.clear()  # a fresh session (and CSRF token) at every log-in: no fixation
    session.permanent = True
    session["key_id"] = principal.key_id
    session["since"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    csrf_token()
    flash(f"已登录 signed in as {principal.role.value} key {principal.key_id}", "info")
    return redirect(url_for("console.home"), 303)


@bp.post("/logout")
@_signed_in
def logout() -> ResponseReturnValue:
    sign_out(service(), _principal(), source=_source())
    session.clear()
    flash("已退出 signed out", "info")
    return redirect(url_for("console.login"), 303)


# -- list ---------------------------------------------------------------------------------------


@bp.get("/licences")
@_signed_in
def licences() -> Response:
    p = _principal()
    status = request.args.get("status") or None
    type_code = request.args.get("type") or None
    q = request.args.get("q") or None
    cursor = request.args.get("cursor") or None
    page = list_licences(service(), p, status=status, type_code=type_code, q=q, limit=PAGE_SIZE, cursor=cursor)
    types = catalogue_for(_region_code(), service().db)
    names = {t.code: t.name for t in types}
    rows = [{"licence": licence_json(r), "type_name": names.get(r.type_code, r.type_code)} for r in page.items]
    next_args = {k: v for k, v in (("status", status), ("type", type_code), ("q", q)) if v}
    next_url = url_for("console.licences", cursor=page.next_cursor, **next_args) if page.next_cursor else None  # type: ignore[arg-type]
    return _page(
        "console/list.html",
        rows=rows,
        types=types,
        statuses=LICENCE_STATUSES,
        status=status,
        type_code=type_code,
        q=q or "",
        next_url=next_url,
    )


# -- issue --------------------------------------------------------------------------------------

_PRINTABLE_PATTERN = r"^[^\u0000-\u0008\u000B-\u001F\u007F]*$"
_FORMAT_HINTS = {
    "uscc": "统一社会信用代码 18 位（GB 32100 校验位）",
    "gb11643": "公民身份号码 18 位（GB 11643 校验位）",
}


def form_inputs(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue form's inputs for the ``fields`` of a type's request JSON Schema, in order:
    a select for an enum, a date input for format date, a number input with its range, a
    textarea for long text, else a text input with the schema's length and pattern; each with
    its Chinese label (the schema's title) and an example as placeholder."""
    fields = schema["properties"]["fields"]
    required = set(fields.get("required", []))
    out = []
    for name, prop in fields["properties"].items():
        item: dict[str, Any] = {
            "name": f"fields.{name}",
            "label": prop.get("title", name),
            "required": name in required,
            "placeholder": str((prop.get("examples") or [""])[0]),
            "hint": prop.get("description") or _FORMAT_HINTS.get(prop.get("format", ""), ""),
        }
        if "enum" in prop:
            item.update(kind="select", options=list(prop["enum"]), placeholder="")
        elif prop.get("format") == "date":
            item.update(kind="date", placeholder="")
        elif prop.get("type") == "integer":
            item.update(kind="number", min=prop.get("minimum"), max=prop.get("maximum"))
        else:
            pattern = prop.get("pattern")
            item.update(
                kind="textarea" if prop.get("maxLength", 0) > 300 else "text",
                maxlength=prop.get("maxLength"),
                minlength=prop.get("minLength"),
                pattern=None if pattern == _PRINTABLE_PATTERN else pattern,
            )
        out.append(item)
    return out


def holder_inputs(ltype: LicenceType) -> dict[str, Any]:
    """The holder part of the form: the document types this type accepts, and which parts the
    face already names (left empty, they are taken from there)."""
    h = ltype.holder
    derived_from = {}
    if h.name_field:
        derived_from["name"] = ltype.by_name[h.name_field].label
    if h.id_field:
        derived_from["id"] = ltype.by_name[h.id_field].label
    return {
        "id_types": {t: HOLDER_ID_TYPES.get(t, t) for t in h.id_types},
        "default_id_type": h.id_types[0],
        "derived_from": derived_from,
        "derived_id_type": h.derived_id_type,
    }


def _form_date(name: str, problems: list[FieldProblem]) -> dt.date | None:
    value = request.form.get(name, "").strip()
    if not value:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(FieldProblem(name, "invalid_date", f"{name} must be a date YYYY-MM-DD"))
        return None


def _form_request(ltype: LicenceType) -> LicenceRequest:
    """The form as a licence request. Built directly rather than through the JSON body parser,
    which stops at the first missing holder part: here an empty input reaches the service's
    checks, which report every field's problem at once. Empty optional inputs are absent."""
    form = request.form
    problems: list[FieldProblem] = []
    fields: dict[str, Any] = {}
    for spec in ltype.fields:
        value: Any = form.get(f"fields.{spec.name}", "")
        if not value.strip():
            continue
        if spec.type == "integer":
            try:
                value = int(value.strip())
            except ValueError:
                pass  # reported by the service as invalid_field_type
        fields[spec.name] = value
    valid_from = _form_date("valid_from", problems)
    valid_until = _form_date("valid_until", problems)
    if problems:
        raise InvalidInputError(
            problems[0].message, code=problems[0].code, field=problems[0].field, problems=tuple(problems)
        )

    def given(name: str) -> str | None:
        value = form.get(name, "")
        return value if value != "" else None  # empty: taken from the face where the type says so

    return LicenceRequest(
        type_code=ltype.code,
        holder_name=given("holder.name"),
        holder_id_type=given("holder.id_type"),
        holder_id=given("holder.id"),
        fields=fields,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def _problems(exc: InvalidInputError) -> list[FieldProblem]:
    if exc.problems:
        return list(exc.problems)
    return [FieldProblem(exc.field or "", exc.code, exc.message)]


@bp.route("/licences/new", methods=["GET", "POST"])
@_signed_in
def new_licence() -> ResponseReturnValue:
    p = _principal()
    types = _types_for(p)
    wanted = request.values.get("type")
    ltype = next((t for t in types if t.code == wanted), types[0] if types else None)
    departments = [(d.uscc, d.name) for d in read_departments(service().db)]
    context: dict[str, Any] = {
        "types": types,
        "ltype": ltype,
        "departments": departments,
        "id_types": HOLDER_ID_TYPES,
        "person_id_type": PERSON_ID_TYPE,
        "organisation_id_type": ORGANISATION_ID_TYPE,
        "values": {},
        "errors": {},
        "inputs": form_inputs(ltype.schema()) if ltype else [],
        "holder": holder_inputs(ltype) if ltype else {},
        "problems": [],
        "idempotency_key": "console-" + secrets.token_hex(12),
    }
    if request.method == "GET" or ltype is None:
        return _page("console/new.html", **context)

    values = {k: v for k, v in request.form.items() if k not in ("csrf_token",)}
    idem = request.form.get("idempotency_key") or None
    department = request.form.get("department") if p.role is Role.ADMIN else p.department_uscc
    context.update(values=values, idempotency_key=idem or context["idempotency_key"])
    try:
        outcome = operations.issue(
            service(),
            _form_request(ltype),
            actor=p,
            department_uscc=department or None,
            idempotency_key=idem,
        )
    except InvalidInputError as exc:
        problems = _problems(exc)
        errors: dict[str, list[FieldProblem]] = {}
        for problem in problems:
            errors.setdefault(problem.field, []).append(problem)
        return _page("console/new.html", status_for(exc), **{**context, "errors": errors, "problems": problems})
    except TrustSvcError as exc:
        if status_for(exc) >= 500:
            raise
        problem = FieldProblem("", exc.code, exc.message)
        return _page("console/new.html", status_for(exc), **{**context, "problems": [problem]})
    ident = outcome.record.identifier
    flash(("已签发 issued " if not outcome.replayed else "已签发（重复提交） already issued ") + ident, "info")
    return redirect(url_for("console.licence", identifier=ident), 303)


# -- view and lifecycle -------------------------------------------------------------------------


def _view(
    identifier: str,
    *,
    status: int = 200,
    action_error: tuple[str, TrustSvcError] | None = None,
) -> Response:
    p = _principal()
    row = get_licence(service(), identifier, principal=p)
    try:
        ltype: LicenceType | None = find_type(_region_code(), row.type_code, service().db, version=row.type_version)
    except TrustSvcError:
        ltype = None
    labels = {f.name: f.label for f in ltype.fields} if ltype else {}
    data = licence_json(row)
    return _page(
        "console/view.html",
        status,
        licence=data,
        type_name=ltype.name if ltype else row.type_code,
        labels=labels,
        id_types=HOLDER_ID_TYPES,
        state=status_now(row),
        stored_status=row.status,
        status_reason=row.status_reason,
        history=licence_history(service(), row.identifier),
        actions=ACTIONS,
        action_error=action_error,
        public_url=f"/licences/{row.identifier}",
        file_url=url_for("console.licence_file_download", identifier=row.identifier),
        ofd_url=url_for("console.licence_file_download", identifier=row.identifier, format="ofd"),
    )


@bp.get("/licences/<identifier>")
@_signed_in
def licence(identifier: str) -> Response:
    return _view(identifier)


@bp.get("/licences/<identifier>/file")
@_signed_in
def licence_file_download(identifier: str) -> Response:
    """The sealed licence PDF (or OFD with ``?format=ofd``), as ``GET /api/v1/licences/{id}/file``
    gives it to a key holder: a browser session has no bearer key to send there."""
    from .licences import requested_file_type

    found = licence_file(service(), identifier, principal=_principal(), media_type=requested_file_type())
    resp = Response(found.content, mimetype=found.media_type)
    resp.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    return resp


@bp.post("/licences/<identifier>/<any(revoke, suspend, reinstate):action>")
@_signed_in
def licence_action(identifier: str, action: str) -> ResponseReturnValue:
    reason = request.form.get("reason", "").strip() or None
    _, fn = ACTIONS[action]
    try:
        if action == "revoke" and reason is None:
            raise InvalidInputError("say why the licence is revoked", code="missing_field", field="reason")
        row = fn(service(), identifier, principal_or_actor=_principal(), reason=reason)
    except TrustSvcError as exc:
        status = status_for(exc)
        if status >= 500 or status in (403, 404) or exc.code in ("invalid_identifier", "identifier_check_failed"):
            raise
        return _view(identifier, status=status, action_error=(action, exc))
    flash(f"{ACTIONS[action][0]}: {row.identifier}", "info")
    return redirect(url_for("console.licence", identifier=row.identifier), 303)
