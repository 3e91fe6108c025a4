"""Request plumbing: correlation ids, refusing oversized bodies before anything reads them, and the lean API path."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from django.conf import settings
from django.http import JsonResponse

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def current_request_id() -> str | None:
    return request_id_var.get()


def error_response(status: int, code: str, message: str, suggestion: str = "") -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "suggestion": suggestion}}, status=status)


class RequestIdMiddleware:
    """Take X-Request-ID (when well-formed) or make one; expose it to logs, tasks and the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        rid = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = rid
        token = request_id_var.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = rid
        return response


class BodySizeLimitMiddleware:
    """413 for bodies over ACTION_REGISTRY['MAX_BODY_BYTES'], judged from Content-Length before reading."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.limit = settings.ACTION_REGISTRY["MAX_BODY_BYTES"]

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.limit and request.path.startswith("/v1/"):
            return error_response(413, "body_too_large", f"request body is {length} bytes; the limit is {self.limit}",
                                  "Send a smaller document; split large schemas with $defs.")
        return self.get_response(request)


# --- the lean path (core/browser_middleware.py) ----------------------------------------------------
# The JSON API authenticates with Bearer API keys only (governance.auth.ApiKeyAuth; every ninja operation is
# CSRF-exempt and none reads request.user, a session or messages), and the probes need nothing. For them the
# session, CSRF, user, messages, frame-options and static-file middleware are skipped. The admin, the web
# pages and the API's Swagger page keep the whole stack.
LEAN_PREFIXES = ("/v1/", "/health/")
BROWSER_PREFIXES = ("/v1/docs",)  # HTML for a browser under /v1/


def lean_path(path_info: str) -> bool:
    """Whether a request to ``path_info`` skips the browser-only middleware."""
    return path_info.startswith(LEAN_PREFIXES) and not path_info.startswith(BROWSER_PREFIXES)

