from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """Usage, runs, reputation, anomalies and reports."""

    name = "analytics"
    verbose_name = "Analytics"
