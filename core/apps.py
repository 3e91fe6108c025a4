from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared plumbing below every app: the event outbox, the audit log, errors, middleware."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core.outbox import event_fanout
        from core.services import on_event_committed

        on_event_committed(event_fanout)
