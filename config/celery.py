"""The Celery app: Redis broker, tasks discovered in each Django app's tasks.py."""

import os

from celery import Celery, signals

import core.celery_signals  # noqa: F401  (connects the request-id and task-outcome handlers)
from config.logging import celery_logging_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
app = Celery("action_registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Celery keeps Django's JSON logging, and carries the request id into tasks (core/celery_signals.py).
app.conf.worker_hijack_root_logger = False
# Redis has no broker-side acknowledgement: a message a worker took waits in the "unacked" set, and a live
# worker puts it back on the queue once it is older than the visibility timeout. With acks_late that is how a
# task whose worker was SIGKILLed (OOM, node lost) runs again, so kombu's 1-hour default would delay it by an
# hour. It must exceed the longest task plus the longest retry countdown (60 s), or a still-running task is
# handed to a second worker; tasks are idempotent, so that costs work, not correctness. Every worker sweeps
# the set at start and every 10 s (docs/operations.md, "Celery delivery").
app.conf.broker_transport_options = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "300")),
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
signals.setup_logging.connect(celery_logging_setup, weak=False)
