from django.apps import AppConfig


class FederationConfig(AppConfig):
    """Mirroring other registries, signed TUF snapshots of this one, and edge sync."""

    name = "federation"
    verbose_name = "Federation"
