from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """Keys, delegations, namespaces, API keys, policies and the approvals that change them."""

    name = "governance"
    verbose_name = "Governance"
