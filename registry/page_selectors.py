"""Reads for the web pages: filter choices of the catalog, and everything one action or version page shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import semver
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from governance.choices import KeyStatus
from registry import records, selectors
from registry.lifecycle_selectors import deprecation_of, deprecations_for, version_document
from registry.models import Action, ActionVersion, Deprecation


def catalog_namespaces() -> list[dict]:
    """``[{namespace, count}]`` of actions with at least one version, by name."""
    return list(Action.objects.filter(latest_version__isnull=False).values("namespace")
                .annotate(count=Count("id")).order_by("namespace"))


def catalog_signers() -> list[str]:
    """Key ids that signed some action's latest version."""
    return list(Action.objects.filter(latest_version__isnull=False).exclude(kid="").order_by("kid")
                .values_list("kid", flat=True).distinct())


@dataclass
class VersionRow:
    version: ActionVersion
    deprecation: Deprecation | None
    latest: bool


@dataclass
class ActionPage:
    action: Action
    rows: list[VersionRow]
    shown: ActionVersion | None
    document: dict = field(default_factory=dict)
    verification: dict = field(default_factory=dict)
    deprecation: Deprecation | None = None


def action_page(*, name: str) -> ActionPage:
    """The action, its versions newest first with deprecations, and the latest version's document and trust."""
    action = selectors.action_get(name=name)
    # Not selectors.action_versions: that loads every version's document, and this page shows only one.
    versions = sorted(ActionVersion.objects.filter(action=action).select_related("signing_key"),
                      key=lambda v: semver.Version.parse(v.version))
    deps = deprecations_for(versions=versions)
    rows = [VersionRow(version=v, deprecation=deps.get(v.id), latest=v.id == action.latest_version_id)
            for v in reversed(versions)]
    shown = next((v for v in versions if v.id == action.latest_version_id), versions[-1] if versions else None)
    page = ActionPage(action=action, rows=rows, shown=shown)
    if shown is not None:
        shown.action = action  # spare the record helpers a query
        page.document = version_document(shown)
        page.verification = records.version_verification(shown)
        page.deprecation = deps.get(shown.id)
    return page


@dataclass
class VersionPage:
    version: ActionVersion
    document: dict
    verification: dict
    deprecation: Deprecation | None
    latest: bool


def version_numbers(*, action: Action) -> list[str]:
    """The action's versions in SemVer order, without loading their documents."""
    return sorted(ActionVersion.objects.filter(action=action).values_list("version", flat=True),
                  key=semver.Version.parse)


def version_page(*, name: str, version: str) -> VersionPage:
    row = selectors.version_get(name=name, version=version)
    return VersionPage(version=row, document=version_document(row), verification=records.version_verification(row),
                       deprecation=deprecation_of(version=row),
                       latest=row.id == row.action.latest_version_id)


def versions_signed_by_revoked_keys(*, name: str) -> set[str]:
    """Versions of the action whose signing key is revoked now (their records no longer verify)."""
    return set(ActionVersion.objects.filter(action__name=name, signing_key__status=KeyStatus.REVOKED)
               .values_list("version", flat=True))


def publications_by_day(*, days: int = 30) -> list[dict]:
    """``[{day, count}]`` of versions published per day over the last ``days`` days, zero days included."""
    today = timezone.now().date()
    start = today - timedelta(days=days - 1)
    counts = dict(ActionVersion.objects.filter(published_at__date__gte=start)
                  .annotate(day=TruncDate("published_at")).values("day").annotate(n=Count("id"))
                  .values_list("day", "n"))
    return [{"day": start + timedelta(days=i), "count": counts.get(start + timedelta(days=i), 0)}
            for i in range(days)]


def largest_namespaces(*, limit: int = 12) -> list[dict]:
    return list(Action.objects.filter(latest_version__isnull=False).values("namespace")
                .annotate(count=Count("id")).order_by("-count", "namespace")[:limit])
