"""registry_semver_newer (registry/migrations/0007), which moves ``latest`` inside the publish statement, decides
as registry.services._is_newer does in Python with the semver package's precedence."""

from __future__ import annotations

import os

import pytest
import semver
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.services import _is_newer

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "100"))

nums = st.integers(min_value=0, max_value=3)
identifier = st.one_of(
    st.sampled_from(["alpha", "beta", "rc", "RC", "a-b", "0a", "-"]),
    st.integers(0, 12).map(str),
    st.sampled_from(["007", "10", "99999999999999999999999"]),  # leading zeros; past bigint
    st.from_regex(r"\A[0-9A-Za-z-]{1,4}\Z"),
)
prerelease = st.one_of(st.just(""), st.lists(identifier, min_size=1, max_size=3).map(".".join))
versions = st.builds(lambda m, n, p, pre: semver.Version(m, n, p, pre or None), nums, nums, nums, prerelease)


def _sql_newer(candidate: semver.Version, current: semver.Version) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT registry_semver_newer(%s, %s, %s, %s, %s, %s, %s, %s)",
                       [candidate.major, candidate.minor, candidate.patch, candidate.prerelease or "",
                        current.major, current.minor, current.patch, current.prerelease or ""])
        return cursor.fetchone()[0]


@settings(max_examples=EXAMPLES * 3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(versions, versions)
def test_sql_precedence_is_pythons(db, candidate, current):
    assert _sql_newer(candidate, current) == _is_newer(candidate, current)


@pytest.mark.parametrize(("candidate", "current", "newer"), [
    ("1.0.1", "1.0.0", True), ("1.0.0", "1.0.1", False), ("1.0.0", "1.0.0", False),
    ("2.0.0-rc.1", "1.0.0", False),  # a prerelease never replaces a release
    ("0.1.0", "1.0.0-rc.1", True),  # a release always replaces a prerelease
    ("1.0.0-rc.2", "1.0.0-rc.1", True), ("1.0.0-rc.10", "1.0.0-rc.9", True),  # numeric, not text, order
    ("1.0.0-rc.1", "1.0.0-rc", True), ("1.0.0-beta", "1.0.0-alpha.9", True),
    ("1.0.0-alpha.beta", "1.0.0-alpha.1", True),  # alphanumeric ranks above numeric
])
def test_sql_precedence_examples(db, candidate, current, newer):
    assert _sql_newer(semver.Version.parse(candidate), semver.Version.parse(current)) is newer
    assert _is_newer(semver.Version.parse(candidate), semver.Version.parse(current)) is newer
