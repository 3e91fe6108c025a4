"""Periodic tasks of the registry: the event outbox drain and capability expiry (beat schedule in settings)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="registry.events_drain_task", acks_late=True, ignore_result=True, autoretry_for=(Exception,),
             retry_backoff=True, retry_backoff_max=60, max_retries=5)
def events_drain_task() -> int:
    """Dispatch outbox events the after-commit fan-out could not send (the channel layer was down)."""
    from core.outbox import events_drain

    return events_drain()


@shared_task(name="registry.capabilities_expire_task", acks_late=True, ignore_result=True,
             autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=60, max_retries=3)
def capabilities_expire_task() -> int:
    """Close live declarations whose TTL passed without a heartbeat, announcing each (capability.expired)."""
    from registry.agent_services import capabilities_expire

    return capabilities_expire()
