"""Counts successful fetch, verify and negotiate calls as usage, after the response is built."""

from __future__ import annotations

import re

from analytics.choices import UsageKind
from analytics.usage import usage_record

_VERSION_PATH = re.compile(r"^/v1/actions/(?P<name>[^/]+)/versions/(?P<version>[^/]+)(?P<verify>/verify)?/?$")


def _agent(request) -> str:
    agent = request.META.get("HTTP_X_AGENT_ID", "")  # request.headers would build a dict of every header
    if agent:
        return agent
    key = getattr(request, "api_key", None) or getattr(request, "auth", None)
    return getattr(key, "name", "") or ""


class UsageMiddleware:
    """Observes /v1 reads without the registry importing analytics (the arrows point up, not down)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 200 and request.path.startswith("/v1/"):
            self._observe(request, response)
        return response

    def _observe(self, request, response) -> None:
        if request.method == "GET":
            match = _VERSION_PATH.match(request.path)
            if match is None:
                return
            name, version = match["name"], match["version"]
            agent = _agent(request)
            usage_record(kind=UsageKind.VERIFY if match["verify"] else UsageKind.FETCH, action=name,
                         version=version, agent=agent)
            # The verification result is in the body already; finding it costs a byte search, no parse.
            body = b"" if response.streaming else response.content
            if b'"verified":false' in body or b'"verified": false' in body:
                usage_record(kind=UsageKind.VERIFY_FAILED, action=name, version=version, agent=agent)
        elif request.method == "POST" and request.path.rstrip("/") == "/v1/negotiate":
            body = getattr(request, "parsed_body", None)
            if isinstance(body, dict) and isinstance(body.get("action"), str):
                usage_record(kind=UsageKind.NEGOTIATE, action=body["action"][:200], agent=_agent(request))
