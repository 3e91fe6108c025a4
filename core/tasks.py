"""Tasks of the core app: a ping that proves a worker consumes the queue (and shows whose request sent it)."""

from __future__ import annotations

import structlog
from celery import shared_task

logger = structlog.get_logger("action_registry.tasks")


@shared_task(name="core.worker_ping_task", acks_late=True, ignore_result=True)
def worker_ping_task(token: str) -> str:
    """Logs one line carrying ``token`` (and, through the signals, the sending request's id)."""
    logger.info("worker_ping", token=token)
    return token
