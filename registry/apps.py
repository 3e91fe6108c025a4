from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """Actions, versions, content-addressed blobs, verification, lifecycle, capabilities, events."""

    name = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        # Agents' admin sits in its own module beside admin.py (which the lifecycle work owns).
        from registry import agent_admin  # noqa: F401
