from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """Keys, delegations, namespaces, API keys, policies and the approvals that change them."""

    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # The registry's negotiation consults policies through this hook, as its module docstring asks:
        # the policy engine reads registry rows, so the registry importing it would make a cycle.
        from governance.policies import negotiation_provider_check
        from registry.negotiation import provider_check_register

        provider_check_register(negotiation_provider_check)
        from governance import policy_admin  # noqa: F401  (registers the policy admin beside governance/admin.py)
