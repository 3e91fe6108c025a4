"""Logging configuration: every log line (ours, Django's, Celery's) is one JSON object carrying the request id."""

from __future__ import annotations

import logging

import structlog


def _add_request_id(logger, method_name: str, event_dict: dict) -> dict:
    # Imported late: settings import this module before Django apps are ready.
    from core.middleware import current_request_id

    if "request_id" not in event_dict:
        rid = current_request_id()
        if rid:
            event_dict["request_id"] = rid
    return event_dict


def _drop_color_message(logger, method_name: str, event_dict: dict) -> dict:
    event_dict.pop("color_message", None)
    return event_dict


_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _add_request_id,
    _drop_color_message,
]


def logging_config(*, level: str = "INFO", fmt: str = "json") -> dict:
    """The LOGGING dict for settings; also configures structlog to hand its events to the stdlib handlers,
    so that one formatter renders everything. ``fmt`` is ``json`` (production) or ``console`` (a terminal)."""
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer = (structlog.dev.ConsoleRenderer(colors=False) if fmt == "console"
                else structlog.processors.JSONRenderer(sort_keys=False))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                               structlog.processors.format_exc_info, renderer],
                "foreign_pre_chain": [*_SHARED, structlog.stdlib.ExtraAdder()],
            },
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            # Our one line per request replaces Django's own (which would log 4xx twice).
            "django.request": {"level": "ERROR"},
            "django.server": {"level": "WARNING"},
            "celery": {"level": level},
        },
    }


def celery_logging_setup(**kwargs) -> None:
    """Celery's setup_logging signal: keep the Django LOGGING configuration instead of Celery's own."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    logging.getLogger("celery").setLevel(settings.LOGGING["root"]["level"])
