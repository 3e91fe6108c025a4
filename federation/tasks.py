"""Celery tasks of federation: the scheduled mirror pull (one task per upstream, scheduled by beat)."""

from __future__ import annotations

import logging

from celery import shared_task

from federation import selectors, services
from federation.upstream_client import UpstreamUnavailable

logger = logging.getLogger("action_registry.federation")


@shared_task(name="federation.tasks.mirror_sync_task", acks_late=True, autoretry_for=(UpstreamUnavailable,),
             retry_backoff=30, retry_backoff_max=600, max_retries=5)
def mirror_sync_task(upstream_id: int) -> dict | None:
    """Pull one upstream; returns the report (quietly None when the upstream is gone or disabled)."""
    upstream = selectors.upstream_by_id(upstream_id=upstream_id)
    if upstream is None or not upstream.enabled:
        return None
    return services.mirror_sync(upstream=upstream, actor="celery").as_dict()
