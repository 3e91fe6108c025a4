"""Celery plumbing: the request id travels from the request that sent a task into the task's log lines,
and every task's outcome is counted."""

from __future__ import annotations

from celery import signals

from core import metrics
from core.middleware import request_id_var

HEADER = "request_id"
_tokens: dict[str, object] = {}


@signals.before_task_publish.connect
def _stamp_request_id(headers: dict | None = None, **kwargs) -> None:
    rid = request_id_var.get()
    if rid and headers is not None and not headers.get(HEADER):
        headers[HEADER] = rid


def _task_request_id(task) -> str | None:
    request = getattr(task, "request", None)
    if request is None:
        return None
    rid = getattr(request, HEADER, None)
    if not rid:
        # Older message protocols nest custom headers one level down.
        rid = (getattr(request, "headers", None) or {}).get(HEADER)
    return rid if isinstance(rid, str) and rid else None


@signals.task_prerun.connect
def _bind_request_id(task_id: str | None = None, task=None, **kwargs) -> None:
    import structlog

    structlog.contextvars.clear_contextvars()
    rid = _task_request_id(task)
    if rid and task_id:
        _tokens[task_id] = request_id_var.set(rid)


@signals.task_postrun.connect
def _unbind_request_id(task_id: str | None = None, **kwargs) -> None:
    token = _tokens.pop(task_id, None) if task_id else None
    if token is not None:
        request_id_var.reset(token)


@signals.task_success.connect
def _count_success(sender=None, **kwargs) -> None:
    metrics.CELERY_TASKS.labels(task=getattr(sender, "name", "unknown"), outcome="success").inc()


@signals.task_failure.connect
def _count_failure(sender=None, **kwargs) -> None:
    metrics.CELERY_TASKS.labels(task=getattr(sender, "name", "unknown"), outcome="failure").inc()


@signals.task_retry.connect
def _count_retry(sender=None, **kwargs) -> None:
    metrics.CELERY_TASKS.labels(task=getattr(sender, "name", "unknown"), outcome="retry").inc()


@signals.task_rejected.connect
def _count_rejected(message=None, **kwargs) -> None:
    name = (getattr(message, "headers", None) or {}).get("task", "unknown")
    metrics.CELERY_TASKS.labels(task=name, outcome="rejected").inc()
