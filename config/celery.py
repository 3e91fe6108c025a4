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
signals.setup_logging.connect(celery_logging_setup, weak=False)
