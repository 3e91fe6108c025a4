from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """Usage, runs, reputation, anomalies and reports."""

    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        # Negotiation (registry) ranks providers by reputation without importing analytics: we register it.
        from analytics.reputation import agent_reputations
        from registry.negotiation import reputation_source_register

        reputation_source_register(agent_reputations)
