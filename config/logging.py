"""Logging configuration: every log line (ours, Django's, Celery's) is one JSON object carrying the request id."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import structlog
from structlog.processors import _json_fallback_handler


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


# --- the request line, written directly ---------------------------------------------------------------

def _stock_handler(logger: logging.Logger, levelno: int) -> logging.StreamHandler | None:
    """The root's one console handler when logging is as ``logging_config`` left it (JSON), else None: then
    anything else (a test's log capture, another handler, a filter) sees the line through the logging module."""
    if logger.handlers or logger.filters or not logger.propagate or not logger.isEnabledFor(levelno):
        return None
    root = logging.root
    if len(root.handlers) != 1 or root.filters:
        return None
    handler = root.handlers[0]
    formatter = handler.formatter
    if (type(handler) is not logging.StreamHandler or handler.filters or levelno < handler.level
            or not isinstance(formatter, structlog.stdlib.ProcessorFormatter)
            or not isinstance(formatter.processors[-1], structlog.processors.JSONRenderer)):
        return None
    return handler


def request_line(logger: logging.Logger, method_name: str, levelno: int, fields: dict) -> bool:
    """Write the one log line of a request, byte for byte what ``structlog`` would (the shared processors,
    then the JSON renderer), without the logging machinery in between: every request writes one, and through
    structlog and the logging module it cost a twentieth of a publish. False when logging is not configured
    as ``logging_config`` made it (the caller then logs normally)."""
    handler = _stock_handler(logger, levelno)
    if handler is None:
        return False
    event = {**fields, "event": "request"}
    for key, value in structlog.contextvars.get_contextvars().items():  # merge_contextvars: bound values after
        event.setdefault(key, value)
    event["level"] = method_name
    event["logger"] = logger.name
    event["timestamp"] = datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")
    _add_request_id(None, method_name, event)
    line = json.dumps(event, default=_json_fallback_handler)
    handler.acquire()
    try:
        handler.stream.write(line + handler.terminator)
        handler.flush()
    except Exception:  # noqa: BLE001 (as logging.Handler.emit: a failing stream never fails the request)
        handler.handleError(logging.makeLogRecord({"msg": line, "levelno": levelno}))
    finally:
        handler.release()
    return True
