"""REST API of the lifecycle (/v1/actions/{name}/...): deprecation, schema diff, compatibility graph."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from core.schemas import errors
from governance.auth import ApiKeyAuth
from registry import lifecycle_selectors, lifecycle_services, selectors
from registry.compat_svg import render_graph_svg
from registry.lifecycle_schemas import (
    CompatibilityGraphOut,
    DeprecateIn,
    DeprecationStateOut,
    DiffOut,
    DiffParams,
    GraphParams,
    UndeprecateIn,
)
from registry.models import ActionVersion

router = Router(tags=["lifecycle"])


def deprecation_headers(response: HttpResponse, version: ActionVersion) -> HttpResponse:
    """``X-Action-Deprecated``/``X-Action-Successor`` (plus the standard Deprecation and Link headers)."""
    dep = lifecycle_selectors.deprecation_of(version=version)
    if dep is None:
        return response
    response["X-Action-Deprecated"] = "true"
    response["Deprecation"] = f"@{int(dep.deprecated_at.timestamp())}"  # RFC 9745
    if dep.successor_id:
        response["X-Action-Successor"] = dep.successor.version
        response["Link"] = (f'</v1/actions/{version.action.name}/versions/{dep.successor.version}>; '
                            'rel="successor-version"')
    return response


def _state(name: str, version: str, response: HttpResponse) -> dict:
    row = selectors.version_get(name=name, version=version)
    deprecation_headers(response, row)
    history = [{"action": e.action, "reason": e.reason, "successor": e.successor.version if e.successor_id else None,
                "actor": e.actor, "at": e.created_at} for e in lifecycle_selectors.deprecation_history(version=row)]
    return {"name": row.action.name, "version": row.version, **lifecycle_selectors.version_deprecation_view(row),
            "history": history}


@router.post(
    "/actions/{name}/versions/{version}/deprecate", auth=ApiKeyAuth(),
    response={200: DeprecationStateOut, **errors(401, 403, 404, 422)}, operation_id="deprecateActionVersion",
    summary="Deprecate a version",
    description=(
        "Marks one version deprecated, with a reason and optionally the `successor` callers should move to "
        "(a published version of the same action that is not deprecated itself). Needs an API key covering "
        "the action's namespace. An annotation only: the signed record never changes. Deprecating an already "
        "deprecated version replaces its reason and successor; every change is kept in `history`. From then on "
        "every read of the version says `deprecated: true` and sets `X-Action-Deprecated: true` and "
        "`X-Action-Successor`. Emits `action.deprecated`. 422 codes: reason_required, successor_not_found, "
        "successor_is_self, successor_deprecated."),
    openapi_extra={"requestBody": {"content": {"application/json": {"examples": {
        "with-successor": {"summary": "Deprecate 1.0.0 in favour of 2.0.0",
                           "value": {"reason": "Superseded by 2.0.0, which validates host names.",
                                     "successor": "2.0.0"}}}}}}},
)
def deprecate_version(request: HttpRequest, name: str, version: str, payload: DeprecateIn, response: HttpResponse):
    lifecycle_services.version_deprecate(name=name, version=version, reason=payload.reason,
                                         successor=payload.successor, api_key=request.auth)
    return _state(name, version, response)


@router.post(
    "/actions/{name}/versions/{version}/undeprecate", auth=ApiKeyAuth(),
    response={200: DeprecationStateOut, **errors(401, 403, 404, 409, 422)}, operation_id="undeprecateActionVersion",
    summary="Lift a deprecation",
    description="Lifts the deprecation of one version, with a reason; the history keeps both the deprecation "
                "and its lifting. Needs an API key covering the namespace. 409 `not_deprecated` when there is "
                "nothing to lift. Emits `action.undeprecated`.",
    openapi_extra={"requestBody": {"content": {"application/json": {"examples": {
        "rollback": {"summary": "Support 1.0.0 again",
                     "value": {"reason": "2.0.0 was rolled back; 1.0.0 is supported again."}}}}}}},
)
def undeprecate_version(request: HttpRequest, name: str, version: str, payload: UndeprecateIn,
                        response: HttpResponse):
    lifecycle_services.version_undeprecate(name=name, version=version, reason=payload.reason, api_key=request.auth)
    return _state(name, version, response)


@router.get(
    "/actions/{name}/versions/{version}/deprecation", response={200: DeprecationStateOut, **errors(404, 422)},
    operation_id="getActionVersionDeprecation", summary="A version's deprecation and its history",
    description="Whether the version is deprecated now, and every deprecate/undeprecate with who, when and why.",
)
def get_deprecation(request: HttpRequest, name: str, version: str, response: HttpResponse):
    return _state(name, version, response)


@router.get(
    "/actions/{name}/diff", response={200: DiffOut, **errors(404, 422)}, operation_id="diffActionVersions",
    by_alias=True, summary="Diff two versions' schemas",
    description=(
        "A structured diff of `input_schema` and `output_schema` between two published versions: properties "
        "added/removed, made required/optional, type changes, enum values, constraints (bounds, lengths, "
        "pattern, format), additionalProperties, nested objects, arrays and tuples, oneOf/anyOf/allOf, with "
        "local `$ref`/`$defs` followed. Each change has a JSON Pointer and is classified `breaking` or "
        "`non_breaking` for a caller: for inputs a change is breaking when a call that was valid may be "
        "refused; for outputs when consumers may get a value they did not expect or lose one they relied on. "
        "The summary gives the verdict and the SemVer bump the changes imply. Example: "
        "`GET /v1/actions/ssh.exec/diff?from=1.0.0&to=2.0.0`."),
)
def diff_versions(request: HttpRequest, name: str, params: Query[DiffParams]):
    result = lifecycle_selectors.action_diff(name=name, from_version=params.from_, to_version=params.to)
    backward, forward = not result.diff.breaking, not result.reverse.breaking
    return {"name": result.name, "from": result.before.version, "to": result.after.version,
            "summary": result.diff.summary(),
            "compatibility": {"backward": backward, "forward": forward, "full": backward and forward},
            "changes": [c.as_dict() for c in result.diff.changes]}


@router.get(
    "/actions/{name}/compatibility", response={200: CompatibilityGraphOut, **errors(404, 422)},
    operation_id="getCompatibilityGraph", by_alias=True, summary="The compatibility graph of an action",
    description=(
        "Every version as a node (status: latest, active, prerelease, deprecated) and edges `compatible` or "
        "`breaks` between them. `declared` edges come from the `compatibility` block of the signed documents "
        "(`compatible_with`, `breaks`, as versions or ranges like `1.x`, `^1.2.0`, `>=1.0.0 <2.0.0`); "
        "`detected` edges come from diffing each version with the one before it and every declared pair, under "
        "the namespace's compatibility mode. Declared edges say whether detection `agrees`. With "
        "`?format=svg` the answer is an SVG picture (image/svg+xml): one column per major version."),
    openapi_extra={"responses": {"200": {"content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/CompatibilityGraphOut"}},
        "image/svg+xml": {"schema": {"type": "string"}}}}}},
)
def compatibility_graph(request: HttpRequest, name: str, params: Query[GraphParams]):
    graph = lifecycle_selectors.compatibility_graph(name=name)
    if params.format == "svg":
        return HttpResponse(render_graph_svg(graph), content_type="image/svg+xml; charset=utf-8")
    return graph
