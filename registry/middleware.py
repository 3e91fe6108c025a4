"""Confirmed answers served before URL routing and the django-ninja operation.

A GET of a version record, its verification or a record by hash, whose answer this process keeps and the change
counter confirms (registry/response_cache.py, core/answer_generation.py), needs none of what routing and the
operation do (path parameter validation, the view): this answers it from the innermost middleware, so the
request log, metrics, security headers and usage accounting around it are the same as for any request. Anything
else, and any answer that needs a probe or a render, goes the usual way.
"""

from __future__ import annotations

import re

from django.urls import resolve

from registry import response_cache

# The same shapes the router matches (a path segment each, no trailing slash); the keys are those of the views.
_PATHS = re.compile(r"^/v1/actions/(?:by-hash/(?P<hash>sha256:[0-9a-f]{64})"
                    r"|(?P<name>[^/]+)/versions/(?P<version>[^/]+?)(?P<verify>/verify)?)$")
_SAMPLES = {"hash": "/v1/actions/by-hash/sha256:" + "0" * 64, "record": "/v1/actions/a.b/versions/1.0.0",
            "verify": "/v1/actions/a.b/versions/1.0.0/verify"}
_matches: dict = {}


def _route_match(kind: str):
    """The router's match for this kind of path (its ``route`` labels the request's metrics and log line)."""
    match = _matches.get(kind)
    if match is None:
        match = _matches[kind] = resolve(_SAMPLES[kind])
    return match


class ConfirmedAnswerMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "GET" and not request.GET and response_cache.enabled():
            found = _PATHS.match(request.path_info)
            if found is not None:
                if found["hash"]:
                    kind, key = "hash", ("hash", found["hash"])
                elif found["verify"]:
                    kind, key = "verify", ("verify", found["name"], found["version"])
                else:
                    kind, key = "record", ("record", found["name"], found["version"])
                response, generation = response_cache.fresh_response(key)
                if response is not None:
                    request.resolver_match = _route_match(kind)
                    return response
                # The view probes or renders: with the counter as read here, not read a second time.
                token = response_cache._generation_read.set((generation,))
                try:
                    return self.get_response(request)
                finally:
                    response_cache._generation_read.reset(token)
        return self.get_response(request)
