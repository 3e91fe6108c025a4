"""Server-rendered governance pages: the trust store as a tree of keys (thin views over selectors)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from governance.trust_selectors import signing_key_tree


@require_safe
def trust(request: HttpRequest) -> HttpResponse:
    roots = signing_key_tree()
    return render(request, "governance/trust.html", {"nav": "trust", "roots": roots})
