"""The console's dashboard (``/console`` after sign-in): the figures of trustsvc.dashboard for
the signed-in issuer's department (an admin: the whole region, or one department), drawn as
server-rendered SVG (no script, no chart library), with the numbers also in tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from flask import Response, request
from flask.typing import ResponseReturnValue

from trustsvc.apikeys import Role
from trustsvc.dashboard import (
    EVENT_KINDS,
    STATUSES,
    Dashboard,
    department_choices,
    peer_region_names,
    read_dashboard,
)
from trustsvc.licences.catalogue import catalogue_for

from ..request import service
from ..verification_counts import verification_counter
from .console import _page, _principal, _region_code, _signed_in, bp

EVENT_NAMES = {
    "issued": ("签发", "issued"),
    "changed": ("变更/延续", "changed or renewed"),
    "suspended": ("中止", "suspended"),
    "reinstated": ("恢复", "reinstated"),
    "revoked": ("注销", "revoked"),
}
STATUS_NAMES = {
    "active": ("有效", "active"),
    "suspended": ("中止", "suspended"),
    "revoked": ("注销", "revoked"),
    "superseded": ("已更新", "superseded"),
    "expired": ("过期", "expired"),
}


def _nice(top: int) -> int:
    """A round axis maximum at or above ``top`` (1, 2, 5 × 10ⁿ)."""
    if top <= 4:
        return 4
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step * 4 >= top:
                return m * step * 4
        step *= 10


def bar_chart(
    days: Sequence[dt.date],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    width: int = 640,
    height: int = 150,
    label: str = "",
) -> dict[str, Any]:
    """Stacked day bars in a ``width`` × ``height`` viewBox: rectangles, y ticks and date labels."""
    left, right, top, bottom = 34, 18, 8, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[i] for _, s in series) for i in range(len(days))]
    ymax = _nice(max(totals, default=0))
    slot = plot_w / max(len(days), 1)
    bars = []
    for i, day in enumerate(days):
        y = float(top + plot_h)
        for cls, values in series:
            n = values[i]
            if not n:
                continue
            h = plot_h * n / ymax
            y -= h
            bars.append(
                {
                    "x": round(left + i * slot + slot * 0.12, 2),
                    "y": round(y, 2),
                    "w": round(slot * 0.76, 2),
                    "h": round(h, 2),
                    "cls": cls,
                    "title": f"{day.isoformat()} {label}{cls}: {n}",
                }
            )
    ticks = [{"y": round(top + plot_h - plot_h * k / 4, 2), "label": ymax * k // 4} for k in (0, 2, 4)]
    xlabels = [
        {"x": round(left + i * slot + slot / 2, 2), "label": d.strftime("%m-%d")}
        for i, d in enumerate(days)
        if (len(days) - 1 - i) % 15 == 0
    ]
    return {
        "w": width,
        "h": height,
        "left": left,
        "right": width - right,
        "base": top + plot_h,
        "bars": bars,
        "ticks": ticks,
        "xlabels": xlabels,
    }


def _scope() -> tuple[list[int], bool, str, list[tuple[str, str]], str | None]:
    """(department ids, whole region?, scope name, departments to choose from, chosen USCC)."""
    p = _principal()
    departments = department_choices(service().db)
    if p.role is not Role.ADMIN:
        mine = [d for d in departments if d.uscc == p.department_uscc]
        return [d.id for d in mine], False, mine[0].name if mine else "", [], None
    chosen = request.args.get("department") or None
    picked = [d for d in departments if d.uscc == chosen]
    choices = [(d.uscc, d.name) for d in departments]
    if picked:
        return [picked[0].id], False, picked[0].name, choices, chosen
    return [d.id for d in departments], True, "全区 whole region", choices, None


def dashboard_page() -> Response:
    ids, whole, scope_name, choices, chosen = _scope()
    verification_counter().flush()  # this process's latest counts (others flush every few seconds)
    figures: Dashboard = read_dashboard(service().db, ids, whole_region=whole)
    peer_names = peer_region_names(service().db)
    days = figures.days
    month_start = days[-1].replace(day=1)
    types = {t.code: t.name for t in catalogue_for(_region_code())}
    tiles = [
        {
            "kind": k,
            "name": EVENT_NAMES[k],
            "month": figures.total(figures.events[k], since=month_start),
            "days90": figures.total(figures.events[k]),
        }
        for k in EVENT_KINDS
    ]
    verified = [("here", figures.verified_here)]
    if figures.verified_peer is not None:
        verified.append(("peer", figures.verified_peer))
    by_type = []
    widest = max((sum(c.values()) for c in figures.by_type.values()), default=0)
    for code, counts in sorted(figures.by_type.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(counts.values())
        x = 0.0
        segments = []
        for status in STATUSES:
            n = counts.get(status, 0)
            if n:
                w = 100 * n / widest if widest else 0
                segments.append({"status": status, "n": n, "x": round(x, 3), "w": round(w, 3)})
                x += w
        by_type.append(
            {"code": code, "name": types.get(code, code), "counts": counts, "total": total, "segments": segments}
        )
    return _page(
        "console/dashboard.html",
        console_page="dashboard",
        figures=figures,
        days=days,
        tiles=tiles,
        month_start=month_start,
        scope_name=scope_name,
        whole=whole,
        choices=choices,
        chosen=chosen,
        event_names=EVENT_NAMES,
        status_names_zh=STATUS_NAMES,
        statuses=STATUSES,
        by_type=by_type,
        status_totals=figures.status_totals(),
        verified_here_total=figures.total(figures.verified_here),
        verified_peer_total=figures.total(figures.verified_peer) if figures.verified_peer is not None else None,
        event_charts=[
            {
                "kind": k,
                "name": EVENT_NAMES[k],
                "total": figures.total(figures.events[k]),
                "chart": bar_chart(days, [(k, figures.events[k])], height=120),
            }
            for k in EVENT_KINDS
        ],
        verify_chart=bar_chart(days, verified, height=150),
        peer_fetches=[
            {
                "region": code,
                "name": peer_names.get(code, ""),
                "month": figures.total(fetched, since=month_start) if fetched else 0,
                "days90": figures.total(fetched) if fetched else 0,
                "redeemed": figures.total(redeemed) if redeemed else 0,
            }
            for code in sorted({*figures.peer_fetches, *figures.peer_redeems})
            for fetched, redeemed in [(figures.peer_fetches.get(code), figures.peer_redeems.get(code))]
        ],
    )


@bp.get("")
@bp.get("/")
@_signed_in
def home() -> ResponseReturnValue:
    """The dashboard; the log-in page without a session. (Registered on the console's blueprint.)"""
    return dashboard_page()
