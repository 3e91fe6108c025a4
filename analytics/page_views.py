"""The analytics web pages beside the reports: the overview and one action's success rates and reputation."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe

from action_registry.errors import RegistryError
from analytics import charts
from analytics import page_selectors as sel
from analytics.selectors import action_stats
from registry.page_selectors import largest_namespaces, publications_by_day

DAYS = 30


def _svg(svg: str):
    # Our own SVG builders escape every label (analytics.charts uses html.escape).
    return mark_safe(svg)  # noqa: S308


@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    usage = sel.consumption_by_day(days=DAYS)
    labels = sel.day_labels(days=DAYS)
    published = publications_by_day(days=DAYS)
    namespaces = largest_namespaces(limit=12)
    top = sel.reputation_top(limit=12)
    return render(request, "analytics/overview.html", {
        "nav": "analytics", "days": DAYS, "anomalies": sel.anomalies_open(limit=20), "reports": sel.reports_recent(),
        "top": top, "namespaces": namespaces, "usage_rows": list(zip(labels, *usage.values(), strict=True)),
        "usage_kinds": list(usage), "published": published,
        "usage_svg": _svg(charts.line_chart(f"Consumption per day, last {DAYS} days", labels, usage)),
        "published_svg": _svg(charts.line_chart(f"Versions published per day, last {DAYS} days", labels,
                                                {"published": [p["count"] for p in published]})),
        "top_svg": _svg(charts.bar_chart("Action reputation (0–100)", [(r.subject, r.score) for r in top],
                                         fmt="{:.0f}", max_value=100)),
        "namespaces_svg": _svg(charts.bar_chart("Actions per namespace", [(n["namespace"], n["count"])
                                                                          for n in namespaces])),
    })


@require_safe
def action_analytics(request: HttpRequest, name: str) -> HttpResponse:
    try:
        action, versions, stats = action_stats(name=name)
    except RegistryError as exc:
        return render(request, "registry/error.html", {"error": exc, "nav": "analytics"}, status=exc.status)
    rows = [stats[v.id] for v in reversed(versions)]
    history = sel.reputation_history(subject=action.name)
    usage = sel.consumption_by_day(days=DAYS, action=action.name)
    labels = sel.day_labels(days=DAYS)
    rated = [(s.version, round(100 * s.success_rate, 1)) for s in rows if s.success_rate is not None]
    return render(request, "analytics/action.html", {
        "nav": "analytics", "action": action, "rows": rows, "history": history,
        "success_svg": _svg(charts.bar_chart("Success rate by version (%)", rated, fmt="{:g}%", max_value=100)),
        "reputation_svg": _svg(charts.line_chart("Reputation over time", [h.computed_at.strftime("%m-%d %H:%M")
                                                                          for h in history],
                                                 {"score": [h.score for h in history]})),
        "usage_svg": _svg(charts.line_chart(f"Consumption per day, last {DAYS} days", labels, usage)),
    })
