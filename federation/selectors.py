"""Reads of federation: upstreams, mirrored origins, quarantined records."""

from __future__ import annotations

from django.db.models import QuerySet

from core.exceptions import NotFound
from federation.models import QuarantinedRecord, Upstream


def upstream_by_id(*, upstream_id: int) -> Upstream | None:
    return Upstream.objects.filter(pk=upstream_id).first()


def upstream_get(*, name: str) -> Upstream:
    upstream = Upstream.objects.filter(name=name).first()
    if upstream is None:
        known = ", ".join(Upstream.objects.values_list("name", flat=True)[:20]) or "none configured"
        raise NotFound(f"no upstream named {name!r}", code="upstream_not_found",
                       suggestion=f"Configure it in the admin (Federation > Upstreams); known: {known}.")
    return upstream


def quarantine_list(*, upstream: Upstream | None = None) -> QuerySet[QuarantinedRecord]:
    qs = QuarantinedRecord.objects.select_related("upstream").order_by("-last_seen_at", "id")
    return qs.filter(upstream=upstream) if upstream is not None else qs
