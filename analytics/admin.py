"""Admin of analytics: runs and usage (read-only), scores with their inputs, anomalies (acknowledge), reports."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from analytics.anomalies import anomaly_acknowledge
from analytics.models import (
    Anomaly,
    Report,
    ReportSchedule,
    ReputationChange,
    ReputationScore,
    Run,
    UsageCount,
)
from analytics.reports import report_generate, report_schedule_save
from core.admin import ReadOnlyAdmin


def _pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ("id", "reported_at", "kind", "action_name", "version", "agent", "ring", "outcome", "duration_ms")
    list_filter = ("kind", "outcome")
    search_fields = ("action_name", "agent", "negotiation_id")
    date_hierarchy = "reported_at"


@admin.register(UsageCount)
class UsageCountAdmin(ReadOnlyAdmin):
    list_display = ("bucket", "kind", "action_name", "version", "agent", "count")
    list_filter = ("kind",)
    search_fields = ("action_name", "agent")


@admin.register(ReputationScore)
class ReputationScoreAdmin(ReadOnlyAdmin):
    list_display = ("subject_type", "subject", "score", "previous_score", "formula", "computed_at")
    list_filter = ("subject_type",)
    search_fields = ("subject",)
    readonly_fields = ("subject_type", "subject", "score", "previous_score", "formula", "computed_at", "inputs_view")
    fields = readonly_fields

    @admin.display(description="inputs (see analytics/reputation.py for the formula)")
    def inputs_view(self, obj):
        return _pretty(obj.inputs)


@admin.register(ReputationChange)
class ReputationChangeAdmin(ReadOnlyAdmin):
    list_display = ("computed_at", "subject_type", "subject", "previous_score", "score")
    list_filter = ("subject_type",)
    search_fields = ("subject",)


@admin.register(Anomaly)
class AnomalyAdmin(admin.ModelAdmin):
    list_display = ("detected_at", "kind", "subject", "namespace", "summary", "status", "acknowledged_by")
    list_filter = ("status", "kind")
    search_fields = ("subject", "summary")
    readonly_fields = ("kind", "subject", "namespace", "summary", "evidence_view", "source_event", "detected_at",
                       "status", "acknowledged_at", "acknowledged_by", "acknowledgement_note")
    fields = readonly_fields
    actions = ["acknowledge"]

    @admin.display(description="evidence")
    def evidence_view(self, obj):
        return _pretty(obj.evidence)

    @admin.action(description="Acknowledge the selected anomalies", permissions=["change"])
    def acknowledge(self, request, queryset):
        for anomaly in queryset:
            anomaly_acknowledge(anomaly=anomaly, actor=f"user:{request.user.get_username()}",
                                note="acknowledged in the admin")
        messages.success(request, f"{queryset.count()} acknowledged.")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReportSchedule)
class ReportScheduleAdmin(admin.ModelAdmin):
    """Which namespaces get which report; the timing is the linked beat task (edit it there)."""

    list_display = ("namespace", "period", "timing", "created_by")
    fields = ("namespace", "period", "timing")
    readonly_fields = ("timing",)
    actions = ["generate_now"]

    @admin.display(description="timing (django-celery-beat)")
    def timing(self, obj):
        task = obj.periodic_task
        if task is None:
            return "-"
        url = reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])
        return format_html('<a href="{}">{}</a>', url, task.crontab or task.interval or "edit")

    def save_model(self, request, obj, form, change):
        saved = report_schedule_save(namespace=obj.namespace, period=obj.period,
                                     actor=f"user:{request.user.get_username()}", schedule=obj if change else None)
        obj.pk = saved.pk

    @admin.action(description="Generate a report now", permissions=["change"])
    def generate_now(self, request, queryset):
        for schedule in queryset:
            report_generate(namespace=schedule.namespace, period=schedule.period, schedule=schedule)


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ("namespace", "period", "period_end", "generated_at", "page")

    @admin.display(description="page")
    def page(self, obj):
        return format_html('<a href="{}">view</a> · <a href="{}">download</a>',
                           reverse("report-detail", args=[obj.pk]), reverse("report-download", args=[obj.pk]))
