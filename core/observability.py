"""One JSON log line and the metrics of every HTTP request; liveness, readiness and /metrics views."""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time

import structlog
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse

from config.logging import request_line
from core import metrics

logger = structlog.get_logger("action_registry.request")
_stdlib_logger = logging.getLogger("action_registry.request")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "error": logging.ERROR}
_QUIET_PATHS = ("/health/", "/metrics")
_PUBLISH_ROUTE = "v1/actions"


def log_bind(**values) -> None:
    """Attach values (e.g. ``kid``) to every log line of the current request or task, the request line included."""
    structlog.contextvars.bind_contextvars(**values)


def _error_code(response: HttpResponse) -> str:
    try:
        return json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def _publish_kid(request: HttpRequest) -> str | None:
    body = getattr(request, "parsed_body", None)
    if isinstance(body, dict) and isinstance(body.get("signature"), dict):
        kid = body["signature"].get("kid")
        return kid if isinstance(kid, str) else None
    return None


class RequestObservabilityMiddleware:
    """Times the request, counts it by route and status, and writes the one request log line (method, path,
    status, duration, API key name, kid, request id). Goes right after RequestIdMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Sync workers reuse threads: what the previous request bound must not leak into this one.
        structlog.contextvars.clear_contextvars()
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "unmatched"
        status = response.status_code
        metrics.HTTP_REQUESTS.labels(method=request.method, route=route, status=str(status)).inc()
        metrics.HTTP_LATENCY.labels(method=request.method, route=route).observe(elapsed)
        fields = {"method": request.method, "path": request.path, "route": route, "status": status,
                  "duration_ms": round(elapsed * 1000, 2)}
        api_key = getattr(request, "api_key", None)
        if api_key is not None:
            fields["api_key"] = api_key.name  # the key's name only, never the token
        if request.method == "POST" and route == _PUBLISH_ROUTE:
            kid = _publish_kid(request)
            if kid:
                fields["kid"] = kid
            metrics.publish_observed(status=status, reason=_error_code(response) if status >= 400 else "")
        if status >= 400 and "error_code" not in fields:
            code = _error_code(response) if response.get("Content-Type", "").startswith("application/json") else ""
            if code:
                fields["error_code"] = code
        if request.path.startswith(_QUIET_PATHS) and status < 400:
            level = "debug"
        elif status >= 500:
            level = "error"
        else:
            level = "info"
        if not request_line(_stdlib_logger, level, _LEVELS[level], fields):
            getattr(logger, level)("request", **fields)
        return response


# --- probes ---------------------------------------------------------------------------------------

_migrated = threading.Event()  # once the schema is current it stays current for this code


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 (any failure means not ready; the reason is reported)
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        return f"database unreachable: {type(exc).__name__}: {first_line}"
    if not _migrated.is_set():
        try:
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except Exception as exc:  # noqa: BLE001
            return f"database migrations unreadable: {type(exc).__name__}"
        if plan:
            return f"database not migrated: {len(plan)} migration(s) pending, first {plan[0][0].app_label}." \
                   f"{plan[0][0].name}"
        _migrated.set()
    return None


_redis_client = None


def _check_redis() -> str | None:
    global _redis_client
    if not settings.REDIS_URL:
        return None
    try:
        if _redis_client is None:
            import redis

            _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        _redis_client.ping()
    except Exception as exc:  # noqa: BLE001
        return f"redis unreachable: {type(exc).__name__}"
    return None


def health_live(request: HttpRequest) -> HttpResponse:
    """The process answers: nothing else is checked (a failing database must not get the pod restarted)."""
    return JsonResponse({"status": "ok"})


def health_ready(request: HttpRequest) -> HttpResponse:
    """Ready for traffic: the database answers and is migrated, Redis answers where configured."""
    checks = {"database": _check_database(), "redis": _check_redis()}
    failing = {name: reason for name, reason in checks.items() if reason}
    body = {"status": "unavailable" if failing else "ok",
            "checks": {name: ("ok" if not reason else reason) if name != "redis" or settings.REDIS_URL
                       else "not configured" for name, reason in checks.items()}}
    if failing:
        body["failing"] = sorted(failing)
        return JsonResponse(body, status=503)
    return JsonResponse(body)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. With METRICS_PORT set it answers only on that (internal) port; with
    METRICS_TOKEN set it wants ``Authorization: Bearer <token>``."""
    cfg = settings.ACTION_REGISTRY_METRICS
    if not cfg["ENABLED"]:
        return JsonResponse({"error": {"code": "not_found", "message": "metrics are disabled", "suggestion": ""}},
                            status=404)
    if cfg["PORT"] and str(request.META.get("SERVER_PORT")) != str(cfg["PORT"]):
        return JsonResponse({"error": {"code": "not_found", "message": "metrics are served on the internal port",
                                       "suggestion": ""}}, status=404)
    if cfg["TOKEN"]:
        given = request.META.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), cfg["TOKEN"].encode()):
            return JsonResponse({"error": {"code": "unauthorized", "message": "metrics need the metrics token",
                                           "suggestion": "Send `Authorization: Bearer <METRICS_TOKEN>`."}},
                                status=401)
    from prometheus_client import CONTENT_TYPE_LATEST

    return HttpResponse(metrics.metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
