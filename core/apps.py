from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared plumbing below every app: the event outbox, the audit log, errors, middleware."""

    name = "core"
    verbose_name = "Core"
