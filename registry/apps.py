from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """Actions, versions, content-addressed blobs, verification, lifecycle, capabilities, events."""

    name = "registry"
    verbose_name = "Registry"
