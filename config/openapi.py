"""The published OpenAPI documents: /v1/openapi.json hardened in one place, and the focused GPT subset.

Routers describe their own operations and fields; what is true of *every* route lives here, because the
handlers that make it true live in config/api.py: the shared path parameters, the 401/404/413/422 answers
of the global error handlers, and media-type examples built from the field examples (kept only when they
validate against their schema, so an example never lies).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, JsonResponse
from jsonschema import Draft202012Validator
from ninja import NinjaAPI

# Path parameters shared by many routes: (description, example). A route's own description wins.
PATH_PARAMETERS: dict[str, tuple[str, str]] = {
    "name": ("Dotted action name: lowercase segments joined by dots.", "ssh.exec"),
    "version": ("Strict SemVer 2.0.0 version of the action.", "1.0.0"),
    "kid": ("Key id of a key in the trust store.", "dev-root-1"),
    "content_hash": ("`sha256:` followed by the 64 lowercase hex digits of the canonical bytes' SHA-256.",
                     "sha256:3b7e0f0d5a1c4e0b8f7c1d2a9e6f5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a"),
    "declaration_id": ("Id of a capability declaration, as returned when it was declared.", "1"),
}
# Same name, other meaning, under these path prefixes.
PATH_PARAMETER_OVERRIDES: dict[tuple[str, str], tuple[str, str]] = {
    ("/v1/channels/", "name"): ("Name of a release channel.", "stable"),
}

# Example bodies of the global error answers, by status.
ERROR_EXAMPLES: dict[str, tuple[str, str, str]] = {
    "400": ("bad_request", "the request could not be understood", "Check the request against GET /v1/openapi.json."),
    "401": ("unauthorized", "this operation needs an API key",
            "Send `Authorization: Bearer <api key>`; operators create keys with `manage.py create_api_key`."),
    "403": ("namespace_forbidden", "API key 'ci' may not publish under ssh.exec", "This key covers: files."),
    "404": ("version_not_found", "ssh.exec has no version 9.9.9", "Versions of ssh.exec: 1.0.0, 1.1.0."),
    "409": ("version_exists", "ssh.exec@1.0.0 is already published with other bytes",
            "Published versions are immutable: publish under a new version number."),
    "413": ("body_too_large", "request body is 300000 bytes; the limit is 262144", "Send a smaller document."),
    "422": ("invalid_request", "limit: Input should be less than or equal to 200",
            "Check the operation's parameters in GET /v1/openapi.json."),
    "429": ("rate_limited", "too many failed authentication attempts from this address",
            "Wait 60 seconds and use a valid key."),
    "503": ("unavailable", "the registry is not ready", "Retry with backoff."),
}
GLOBAL_ERROR_DESCRIPTIONS = {
    "401": "Missing, unknown or revoked API key.",
    "404": "No such resource (or a path that matches no route).",
    "413": "The request body is over the configured size limit.",
    "422": "A parameter or the body does not match this operation's schema.",
    "429": "Too many failed API-key authentications from this address: wait and retry with a valid key.",
}
SECURITY_DESCRIPTION = ("API key issued by the registry's operators (`manage.py create_api_key`), scoped to "
                        "namespace prefixes. Send `Authorization: Bearer <api key>`. Reads need no key.")

# The Custom GPT action set: operations an assistant needs to find, inspect and verify actions, none of which
# needs an API key or changes anything. Left out on purpose: publishing (a GPT cannot hold the publisher's
# private key), every write, and the agent endpoints (they need an agent's key; negotiate records a run).
GPT_OPERATIONS: tuple[str, ...] = (
    "discoverActions", "getAction", "getActionVersion", "verifyActionVersion", "getActionByHash",
    "getActionVersionDeprecation", "diffActionVersions", "getCompositePlan", "getActionStats",
    "getActionRecommendation", "listKeys", "getKey", "getKeyChain", "listRevocations", "listNamespaces",
    "listPolicies", "getChannel", "evaluatePolicy",
)
GPT_MAX_OPERATIONS = 30

# OpenAPI links: how a client (or schemathesis's stateful fuzzer) chains one operation's answer into the
# next call. (source operationId, statuses, link name, target operationId, {parameter: runtime expression}).
_RECORD = {"name": "$response.body#/name", "version": "$response.body#/version"}
LINKS: tuple[tuple[str, tuple[str, ...], str, str, dict[str, str]], ...] = (
    ("publishAction", ("200", "201"), "GetVersion", "getActionVersion", _RECORD),
    ("publishAction", ("200", "201"), "VerifyVersion", "verifyActionVersion", _RECORD),
    ("publishAction", ("200", "201"), "GetByHash", "getActionByHash",
     {"content_hash": "$response.body#/content_hash"}),
    ("publishAction", ("200", "201"), "GetAction", "getAction", {"name": "$response.body#/name"}),
    ("publishAction", ("200", "201"), "GetInclusionProof", "getLogInclusionProof",
     {"leaf_hash": "$response.body#/receipt/leaf_hash",
      "tree_size": "$response.body#/receipt/inclusion_proof/tree_size"}),
    ("discoverActions", ("200",), "GetFirstAction", "getAction", {"name": "$response.body#/items/0/name"}),
    ("getAction", ("200",), "GetLatestVersion", "getActionVersion",
     {"name": "$response.body#/name", "version": "$response.body#/latest_version"}),
    ("getAction", ("200",), "DiffOldestToLatest", "diffActionVersions",
     {"name": "$response.body#/name", "from": "$response.body#/versions/0/version",
      "to": "$response.body#/latest_version"}),
    ("getAction", ("200",), "GetStats", "getActionStats", {"name": "$response.body#/name"}),
    ("getActionVersion", ("200",), "VerifyVersion", "verifyActionVersion", _RECORD),
    ("getActionVersion", ("200",), "GetByHash", "getActionByHash", {"content_hash": "$response.body#/content_hash"}),
    ("getActionVersion", ("200",), "GetDeprecation", "getActionVersionDeprecation", _RECORD),
    ("getActionVersion", ("200",), "GetSigningKey", "getKey", {"kid": "$response.body#/signature/kid"}),
    ("getActionByHash", ("200",), "GetVersion", "getActionVersion", _RECORD),
    ("verifyActionVersion", ("200",), "GetSigningKeyChain", "getKeyChain", {"kid": "$response.body#/kid"}),
    ("listKeys", ("200",), "GetFirstKey", "getKey", {"kid": "$response.body#/items/0/kid"}),
    ("getKey", ("200",), "GetChain", "getKeyChain", {"kid": "$response.body#/kid"}),
    ("getLogEntries", ("200",), "GetFirstEntryInclusionProof", "getLogInclusionProof",
     {"leaf_hash": "$response.body#/entries/0/leaf_hash", "tree_size": "$response.body#/tree_size"}),
    ("getLogCheckpoint", ("200",), "GetConsistencyProof", "getLogConsistencyProof",
     {"second": "$response.body#/tree_size"}),
    ("getLogInclusionProof", ("200",), "GetConsistencyProof", "getLogConsistencyProof",
     {"first": "$response.body#/tree_size"}),
    ("declareCapabilities", ("201",), "Heartbeat", "heartbeatCapabilities",
     {"declaration_id": "$response.body#/id"}),
    ("declareCapabilities", ("201",), "Withdraw", "withdrawCapabilities", {"declaration_id": "$response.body#/id"}),
)
GPT_SUMMARY_MAX = 300
GPT_PARAMETER_DESCRIPTION_MAX = 700
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def operations(spec: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


# --- examples ----------------------------------------------------------------------------------------

class _NoExample(Exception):
    pass


def _resolve(schema: dict, spec: dict) -> dict:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 20:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise _NoExample(ref)
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    return schema


def _example(schema: Any, spec: dict, depth: int = 0) -> Any:
    if schema is True or schema == {}:
        return {}
    if not isinstance(schema, dict) or depth > 12:
        raise _NoExample("depth")
    schema = _resolve(schema, spec)
    for key in ("examples",):
        if isinstance(schema.get(key), list) and schema[key]:
            return copy.deepcopy(schema[key][0])
    for key in ("example", "const"):
        if key in schema:
            return copy.deepcopy(schema[key])
    if "default" in schema and schema["default"] is not None:
        return copy.deepcopy(schema["default"])
    if schema.get("enum"):
        return schema["enum"][0]
    if "allOf" in schema:
        merged: dict = {}
        for part in schema["allOf"]:
            value = _example(part, spec, depth + 1)
            if not isinstance(value, dict):
                return value
            merged.update(value)
        return merged
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [b for b in schema[key] if not (isinstance(b, dict) and b.get("type") == "null")]
            for branch in branches:
                try:
                    return _example(branch, spec, depth + 1)
                except _NoExample:
                    continue
            if len(branches) < len(schema[key]):
                return None
            raise _NoExample(key)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        out = {}
        required = set(schema.get("required", ()))
        for prop, sub in schema.get("properties", {}).items():
            try:
                out[prop] = _example(sub, spec, depth + 1)
            except _NoExample:
                if prop in required:
                    raise
        return out
    if kind == "array":
        try:
            return [_example(schema.get("items", {}), spec, depth + 1)]
        except _NoExample:
            if schema.get("minItems", 0):
                raise
            return []
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2026-01-15T09:30:00Z"
        if fmt == "date":
            return "2026-01-15"
        if fmt in ("uri", "url"):
            return "https://registry.example.com/"
        if "pattern" in schema or schema.get("minLength", 0) > 4:
            raise _NoExample("string")
        return "text"
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    raise _NoExample(str(kind))


def example_for(schema: dict, spec: dict) -> tuple[bool, Any]:
    """An example built from the schema's own field examples, and whether it validates against the schema."""
    try:
        value = _example(schema, spec)
    except (_NoExample, KeyError):
        return False, None
    validator = Draft202012Validator({**schema, "components": spec.get("components", {})})
    return validator.is_valid(value), value


def _media_has_example(media: dict) -> bool:
    return "example" in media or bool(media.get("examples"))


def _add_examples(spec: dict, path: str, op: dict) -> None:
    body = op.get("requestBody", {}).get("content", {})
    for ct, media in body.items():
        if ct.endswith("json") and not _media_has_example(media) and "schema" in media:
            valid, value = example_for(media["schema"], spec)
            if valid:
                media["example"] = value
    for status, response in op.get("responses", {}).items():
        for ct, media in response.get("content", {}).items():
            if not ct.endswith("json") or _media_has_example(media) or "schema" not in media:
                continue
            if status in ERROR_EXAMPLES and _is_error_schema(media["schema"], spec):
                code, message, suggestion = ERROR_EXAMPLES[status]
                media["example"] = {"error": {"code": code, "message": message, "suggestion": suggestion}}
                continue
            valid, value = example_for(media["schema"], spec)
            if valid:
                media["example"] = value


def _is_error_schema(schema: dict, spec: dict) -> bool:
    try:
        resolved = _resolve(schema, spec)
    except (_NoExample, KeyError):
        return False
    return set(resolved.get("properties", {})) == {"error"}


# --- hardening ---------------------------------------------------------------------------------------

def _fix_parameter_examples(op: dict) -> None:
    """ninja copies the field's JSON Schema ``examples`` list onto the parameter, where OpenAPI wants a map
    of Example Objects; turn it into that map."""
    for param in op.get("parameters", []):
        if isinstance(param.get("examples"), list):
            values = param.pop("examples")
            if values:
                param["examples"] = {f"example{i + 1}": {"value": v} for i, v in enumerate(values)}


def _add_parameter_examples(spec: dict, op: dict) -> None:
    for param in op.get("parameters", []):
        has = "example" in param or param.get("examples") or (param.get("schema") or {}).get("examples")
        if not has and "schema" in param:
            valid, value = example_for(param["schema"], spec)
            if valid and value is not None:
                param["example"] = value


def _describe_path_parameters(path: str, op: dict) -> None:
    for param in op.get("parameters", []):
        if param.get("in") != "path":
            continue
        known = next((v for (prefix, pname), v in PATH_PARAMETER_OVERRIDES.items()
                      if pname == param["name"] and path.startswith(prefix)), None) or PATH_PARAMETERS.get(param["name"])
        if known is None:
            continue
        description, example = known
        param.setdefault("description", description)
        if "example" not in param and "examples" not in param:
            param["example"] = example
        schema = param.setdefault("schema", {})
        schema.setdefault("description", param["description"])


def _add_global_errors(spec: dict, path: str, op: dict) -> None:
    responses = op.setdefault("responses", {})
    error_ref = {"$ref": "#/components/schemas/ErrorOut"} if "ErrorOut" in spec.get("components", {}).get(
        "schemas", {}) else None
    if error_ref is None:
        return
    needed = []
    if op.get("parameters") or op.get("requestBody"):
        needed.append("422")
    if any(p.get("in") == "path" for p in op.get("parameters", [])):
        needed.append("404")
    if op.get("requestBody"):
        needed.append("413")
    if op.get("security"):
        needed += ["401", "429"]
    for status in needed:
        responses.setdefault(status, {"description": GLOBAL_ERROR_DESCRIPTIONS[status],
                                      "content": {"application/json": {"schema": dict(error_ref)}}})
    if any(p.get("in") == "query" for p in op.get("parameters", [])):
        # Answered by the HTTP server in front of Django (gunicorn: request lines over 4 KiB), so no JSON body.
        responses.setdefault("414", {"description": "The request line (URL with its query) is over 4 KiB."})


def _add_links(spec: dict) -> None:
    """Declare LINKS on their source responses; a link whose operation is gone is left out (the tests list it)."""
    by_id = {op.get("operationId"): op for _path, _method, op in operations(spec)}
    for source, statuses, name, target, parameters in LINKS:
        if source not in by_id or target not in by_id:
            continue
        for status in statuses:
            response = by_id[source].get("responses", {}).get(status)
            if response is not None:
                response.setdefault("links", {})[name] = {
                    "operationId": target, "parameters": dict(parameters),
                    "description": f"Call {target} with {', '.join(parameters)} from this answer."}


def harden(spec: dict) -> dict:
    """Add what every route shares; idempotent."""
    for path, _method, op in operations(spec):
        # ninja keys responses by int; JSON has string keys (and "422" must not appear twice).
        op["responses"] = {str(status): response for status, response in op.get("responses", {}).items()}
        for status, response in op["responses"].items():  # OpenAPI requires one; openapi_extra may omit it
            if not response.get("description"):
                response["description"] = _status_phrase(status)
        _fix_parameter_examples(op)
        _describe_path_parameters(path, op)
        _add_parameter_examples(spec, op)
        _add_global_errors(spec, path, op)
        _add_examples(spec, path, op)
    _add_links(spec)
    for scheme in spec.get("components", {}).get("securitySchemes", {}).values():
        if scheme.get("type") == "http" and scheme.get("scheme") == "bearer":
            scheme.setdefault("description", SECURITY_DESCRIPTION)
            scheme.setdefault("bearerFormat", "ar_<prefix>_<secret>")
    return spec


def _status_phrase(status: str) -> str:
    try:
        return HTTPStatus(int(status)).phrase
    except ValueError:
        return "Response"


class RegistryAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document is hardened (and built once per process and prefix)."""

    _openapi_cache: dict[str, dict]

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict | None = None):
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        cache = self.__dict__.setdefault("_openapi_cache", {})
        if path_prefix not in cache:
            spec = dict(super().get_openapi_schema(path_prefix=path_prefix))
            if not spec.get("servers") and self.openapi_extra.get("servers"):
                # ninja writes `servers` from its own argument and then skips openapi_extra's
                spec["servers"] = self.openapi_extra["servers"]
            cache[path_prefix] = harden(spec)
        return copy.deepcopy(cache[path_prefix])


# --- the Custom GPT subset ---------------------------------------------------------------------------

def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("; "))
    return cut[:end + 1] if end > limit // 2 else cut[:limit - 1].rstrip() + "…"


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            yield ref.rsplit("/", 1)[1]
        for child in value.values():
            yield from _refs(child)
    elif isinstance(value, list):
        for child in value:
            yield from _refs(child)


def gpt_schema(full: dict, *, operation_ids: tuple[str, ...] = GPT_OPERATIONS) -> dict:
    """The focused document for a Custom GPT: read operations only, GPT length limits, unused schemas pruned."""
    wanted = set(operation_ids)
    paths: dict[str, dict] = {}
    for path, method, op in operations(full):
        if op.get("operationId") not in wanted:
            continue
        op = copy.deepcopy(op)
        json_responses = {s: r for s, r in op.get("responses", {}).items()
                          if all(ct.endswith("json") for ct in r.get("content", {}))}
        if not any(s.startswith("2") for s in json_responses):
            continue  # GPT actions read JSON (an SVG or a tarball helps no one there)
        for response in json_responses.values():  # links into operations outside the subset would dangle
            links = {k: v for k, v in response.get("links", {}).items() if v.get("operationId") in wanted}
            if links:
                response["links"] = links
            else:
                response.pop("links", None)
        op["responses"] = json_responses
        op["summary"] = _shorten(op.get("summary", ""), GPT_SUMMARY_MAX)
        op["description"] = _shorten(op.get("description") or op["summary"], GPT_SUMMARY_MAX)
        for param in op.get("parameters", []):
            if "description" in param:
                param["description"] = _shorten(param["description"], GPT_PARAMETER_DESCRIPTION_MAX)
        if op.get("security"):
            continue  # the GPT action set is keyless (tests/api/test_openapi.py notices a dropped operation)
        if method != "get":
            op["x-openai-isConsequential"] = False  # a policy evaluation changes nothing
        paths.setdefault(path, {})[method] = op
    components = full.get("components", {})
    schemas = components.get("schemas", {})
    keep: set[str] = set()
    todo = list(_refs(paths))
    while todo:
        name = todo.pop()
        if name in keep or name not in schemas:
            continue
        keep.add(name)
        todo.extend(_refs(schemas[name]))
    info = dict(full.get("info", {}))
    info["title"] = "Action Registry (GPT actions)"
    info["description"] = _shorten(
        "Find, inspect and verify signed actions (tool schemas) in an Action Registry. Each action is an "
        "immutable name@version signed by a trusted key; errors carry a suggestion naming the next call.", 300)
    out: dict[str, Any] = {"openapi": full.get("openapi", "3.1.0"), "info": info,
                           "servers": full.get("servers", []), "paths": paths,
                           "components": {"schemas": {n: schemas[n] for n in sorted(keep)}}}
    return out  # keyless: no security schemes, so the GPT builder asks for no authentication


_GPT_CACHE: dict[str, dict] = {}


def gpt_openapi_json(request: HttpRequest) -> JsonResponse:
    """GET /v1/openapi.gpt.json: the action set to import into a Custom GPT."""
    from config.api import api

    if "spec" not in _GPT_CACHE:
        _GPT_CACHE["spec"] = gpt_schema(api.get_openapi_schema(path_prefix="/v1/"))
    response = JsonResponse(_GPT_CACHE["spec"], json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "public, max-age=300"
    return response
