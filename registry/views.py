"""Server-rendered pages of the catalog: thin views over selectors, readable without JavaScript."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from action_registry.errors import RegistryError
from registry import pages, selectors
from registry.compat_svg import render_graph_svg
from registry.lifecycle_selectors import action_diff, compatibility_graph, version_document
from registry.page_selectors import (
    action_page,
    catalog_namespaces,
    catalog_signers,
    version_numbers,
    version_page,
    versions_signed_by_revoked_keys,
)

PAGE_SIZE = 25
MAX_PAGE = 4000


def _not_found_page(view):
    """Render a domain error (unknown action or version, bad version text) as a page with its suggestion."""
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except RegistryError as exc:
            status = exc.status if 400 <= exc.status < 500 else 400
            return render(request, "registry/error.html", {"error": exc, "nav": "catalog"}, status=status)
    return wrapper


def _int(value: str | None, default: int, *, low: int, high: int) -> int:
    try:
        return min(max(int(value or default), low), high)
    except ValueError:
        return default


def _catalog_context(request: HttpRequest) -> dict:
    q = request.GET.get("q", "").strip()[:200]
    namespace = request.GET.get("namespace", "").strip()[:200]
    kid = request.GET.get("kid", "").strip()[:128]
    page_number = _int(request.GET.get("page"), 1, low=1, high=MAX_PAGE)
    result = selectors.action_search(q=q or None, kid=kid or None, namespace=namespace or None,
                                     offset=(page_number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    pages_total = max(1, -(-result.total // PAGE_SIZE))
    base = request.GET.copy()
    base.pop("page", None)

    def page_url(n: int) -> str:
        params = base.copy()
        if n > 1:
            params["page"] = str(n)
        encoded = params.urlencode()
        return "?" + encoded if encoded else "?"

    return {
        "q": q, "namespace": namespace, "kid": kid, "result": result, "page_number": page_number,
        "pages_total": pages_total, "first_shown": result.offset + 1 if result.items else 0,
        "last_shown": result.offset + len(result.items),
        "prev_url": page_url(page_number - 1) if page_number > 1 else None,
        "next_url": page_url(page_number + 1) if page_number < pages_total else None,
    }


@require_safe
def catalog(request: HttpRequest) -> HttpResponse:
    context = _catalog_context(request)
    context.update(nav="catalog", namespaces=catalog_namespaces(), signers=catalog_signers())
    return render(request, "registry/catalog.html", context)


@require_safe
def catalog_results(request: HttpRequest) -> HttpResponse:
    """The results region only, for instant search as the user types."""
    return render(request, "registry/_catalog_results.html", _catalog_context(request))


@require_safe
@_not_found_page
def action_detail(request: HttpRequest, name: str) -> HttpResponse:
    page = action_page(name=name)
    doc = page.document
    return render(request, "registry/action.html", {
        "nav": "catalog", "page": page, "action": page.action,
        "input_rows": pages.schema_rows(doc.get("input_schema")),
        "output_rows": pages.schema_rows(doc.get("output_schema")),
        "input_summary": pages.schema_summary(doc.get("input_schema")),
        "output_summary": pages.schema_summary(doc.get("output_schema")),
    })


@require_safe
@_not_found_page
def version_detail(request: HttpRequest, name: str, version: str) -> HttpResponse:
    page = version_page(name=name, version=version)
    base_url = settings.ACTION_REGISTRY["PUBLIC_URL"].rstrip("/")
    return render(request, "registry/version.html", {
        "nav": "catalog", "page": page, "row": page.version, "action": page.version.action,
        "document_json": pages.pretty_json(page.document),
        "commands": pages.version_commands(name=page.version.action.name, version=page.version.version,
                                           base_url=base_url),
        "input_rows": pages.schema_rows(page.document.get("input_schema")),
        "output_rows": pages.schema_rows(page.document.get("output_schema")),
    })


@require_safe
@_not_found_page
def diff_view(request: HttpRequest, name: str) -> HttpResponse:
    action = selectors.action_get(name=name)
    versions = version_numbers(action=action)
    to_version = request.GET.get("to") or (action.latest_version.version if action.latest_version_id else "")
    earlier = [v for v in versions if v != to_version]
    default_from = versions[versions.index(to_version) - 1] if to_version in versions[1:] else (earlier or [""])[0]
    from_version = request.GET.get("from") or default_from
    result = None
    if from_version and to_version and from_version != to_version:
        result = action_diff(name=name, from_version=from_version, to_version=to_version)
    return render(request, "registry/diff.html", {
        "nav": "catalog", "action": action, "versions": versions, "from_version": from_version,
        "to_version": to_version, "result": result,
        "changes": pages.change_rows(result.diff.changes) if result else [],
        "before_doc": pages.pretty_json(_schemas(result.before)) if result else "",
        "after_doc": pages.pretty_json(_schemas(result.after)) if result else "",
    })


def _schemas(version) -> dict:
    doc = version_document(version)
    return {"input_schema": doc.get("input_schema"), "output_schema": doc.get("output_schema")}


@require_safe
@_not_found_page
def graph_view(request: HttpRequest, name: str) -> HttpResponse:
    graph = compatibility_graph(name=name)
    revoked = versions_signed_by_revoked_keys(name=graph["name"])
    for node in graph["nodes"]:
        node["key_status"] = "revoked" if node["version"] in revoked else "trusted"
    return render(request, "registry/graph.html", {
        "nav": "catalog", "graph": graph, "name": graph["name"],
        "action": {"name": graph["name"], "namespace": graph["name"].split(".", 1)[0]},
        "detected": [e for e in graph["edges"] if e["source"] == "detected"],
        "declared": [e for e in graph["edges"] if e["source"] == "declared"],
        # Inline, so the picture needs no second request; the XML declaration is only for the standalone file.
        "svg": render_graph_svg(graph).split("?>", 1)[-1].strip(),
    })

