"""The one NinjaAPI: strict JSON parsing, one mapping from domain errors to responses, the routers."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from action_registry.canonical import parse_json
from action_registry.errors import RegistryError
from config.openapi import RegistryAPI
from core.middleware import error_response

logger = logging.getLogger("action_registry.api")


class StrictJSONParser(Parser):
    """Every JSON body goes through the registry's strict parser: duplicate keys, NaN, unsafe integers,
    lone surrogates and over-deep nesting are refused instead of silently altered."""

    def parse_body(self, request: HttpRequest):
        try:
            return self._parse(request)
        except RegistryError as exc:
            # ninja turns any parser exception into a bare 400; keep ours for the error handler.
            request.body_error = exc
            raise

    def _parse(self, request: HttpRequest):
        limits = settings.ACTION_REGISTRY
        try:
            body = request.body
        except RequestDataTooBig:
            raise RegistryError(f"request body is over {limits['MAX_BODY_BYTES']} bytes", code="body_too_large",
                                status=413, suggestion="Send a smaller document.") from None
        if len(body) > limits["MAX_BODY_BYTES"]:
            raise RegistryError(f"request body is {len(body)} bytes; the limit is {limits['MAX_BODY_BYTES']}",
                                code="body_too_large", status=413, suggestion="Send a smaller document.")
        request.max_json_depth = limits["MAX_JSON_DEPTH"]
        request.parsed_body = parse_json(body, max_depth=limits["MAX_JSON_DEPTH"])
        return request.parsed_body


api = RegistryAPI(  # NinjaAPI with the hardened OpenAPI document (config/openapi.py)
    title="Action Registry API",
    version="1.0.0",
    description=(
        "The trust layer AI agents use to find, fetch and verify the actions (tool schemas) they may run. "
        "An action is an immutable, signed `(name, version)` record. Agents discover actions, fetch them, "
        "and check the signature and the key's chain of trust before acting. Errors are always "
        '`{"error": {"code", "message", "suggestion"}}`, where `suggestion` names the next call that would work.'
    ),
    urls_namespace="v1",
    parser=StrictJSONParser(),
    openapi_extra={
        "info": {"license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
                 "contact": {"name": "Action Registry maintainers"}},
        "servers": [{"url": settings.ACTION_REGISTRY["PUBLIC_URL"], "description": "This registry"}],
    },
)


@api.exception_handler(RegistryError)
def registry_error(request: HttpRequest, exc: RegistryError) -> HttpResponse:
    return api.create_response(request, {"error": exc.as_dict()}, status=exc.status)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "payload"))
    message = f"{where}: {first.get('msg', 'invalid input')}" if where else first.get("msg", "invalid input")
    return api.create_response(request, {"error": {
        "code": "invalid_request", "message": message,
        "suggestion": "Check the operation's parameters in GET /v1/openapi.json.",
        "details": {"errors": [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors[:20]]},
    }}, status=422)


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(401, "unauthorized", "this operation needs an API key",
                          "Send `Authorization: Bearer <api key>`; operators create keys with "
                          "`manage.py create_api_key`.")


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    body_error = getattr(request, "body_error", None)
    if body_error is not None:
        return registry_error(request, body_error)
    return error_response(exc.status_code, "http_error", exc.message)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404, "not_found", "no such resource", "See GET /v1/docs for the operations.")


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    """PostgreSQL down or restarting (issue 12, tests/faults/test_postgres_restart.py): the transaction rolled
    back, so the request had no effect and may be retried as is. Without this it was a 500 whose DEBUG body
    carried a traceback. Integrity errors are bugs and stay 500."""
    logger.warning("database unavailable: %s", type(exc).__name__)
    response = error_response(503, "database_unavailable", "the database is unavailable; nothing was changed",
                              "Retry the same request after a short delay (see Retry-After).")
    response["Retry-After"] = "1"
    return response


@api.exception_handler(DataError)
def unstorable_value(request: HttpRequest, exc: DataError) -> HttpResponse:
    """A value PostgreSQL cannot take (a NUL character in text, an integer beyond bigint) reached a query:
    the statement failed and changed nothing, so it is the caller's bad input, not a 500. Found by the
    stateful fuzzer (tests/api/test_stateful.py); regressions in tests/api/test_openapi_fuzz_findings.py."""
    cause = "a NUL character" if "NUL" in str(exc) else "a value out of range or of the wrong form"
    return error_response(422, "invalid_request", f"a parameter or field holds a value the registry cannot "
                          f"store or look up ({cause})",
                          "Check the operation's parameters in GET /v1/openapi.json; text may not contain NUL "
                          "and integers must fit in 64 bits.")


api.add_router("", "registry.api.router")
api.add_router("", "registry.lifecycle_api.router")
api.add_router("", "registry.agent_api.router")
api.add_router("", "governance.api.router")
api.add_router("", "core.log_api.router")
api.add_router("", "governance.policy_api.router")
api.add_router("", "analytics.api.router")
api.add_router("", "federation.api.router")
