"""Report pages under /reports/: the list, one report with its SVG charts, and downloads (HTML or JSON)."""

from __future__ import annotations

import json

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from analytics.models import Report
from analytics.reports import report_charts


def _report(report_id: int) -> Report:
    report = Report.objects.filter(pk=report_id).first()
    if report is None:
        raise Http404("no such report")
    return report


def _context(report: Report) -> dict:
    # The charts are our own SVG, built from numbers with every label escaped in analytics.charts.
    return {"nav": "analytics", "report": report, "data": report.data,
            "charts": [mark_safe(svg) for svg in report_charts(report.data)]}  # noqa: S308


@staff_member_required
@require_GET
def report_list(request: HttpRequest) -> HttpResponse:
    reports = Report.objects.order_by("-period_end", "namespace")[:200]
    return render(request, "analytics/report_list.html", {"nav": "analytics", "reports": reports})


@staff_member_required
@require_GET
def report_detail(request: HttpRequest, report_id: int) -> HttpResponse:
    return render(request, "analytics/report.html", _context(_report(report_id)))


@staff_member_required
@require_GET
def report_download(request: HttpRequest, report_id: int) -> HttpResponse:
    """``?format=json`` for the figures; otherwise one self-contained HTML file with the charts inline."""
    report = _report(report_id)
    stem = f"report-{report.namespace}-{report.period}-{report.period_end:%Y%m%dT%H%M}"
    if request.GET.get("format") == "json":
        response = HttpResponse(json.dumps(report.data, indent=2, sort_keys=True), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{stem}.json"'
        return response
    html = render_to_string("analytics/report_standalone.html", _context(report), request=request)
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{stem}.html"'
    return response
