"""Properties of SemVer ranges (action_registry/versions.py) checked against the `semver` package itself:
membership agrees with semver's own comparisons, the normalised form round-trips, ordering is consistent.
(tests/action_registry/test_versions.py holds the hand-checked npm cases and a first set of properties.)"""

from __future__ import annotations

import os

import semver
from hypothesis import given, settings
from hypothesis import strategies as st

from action_registry.versions import parse_range, parse_version

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "100"))  # nightly: more (docs/testing.md, "Fuzzing")

nums = st.integers(min_value=0, max_value=12)
releases = st.builds(semver.Version, nums, nums, nums)
prereleases = st.builds(semver.Version, nums, nums, nums, st.from_regex(r"\A(alpha|beta|rc)(\.[0-9])?\Z"))
versions = st.one_of(releases, prereleases)
OPS = (">=", ">", "<=", "<", "=")


@st.composite
def partials(draw) -> str:
    """1, 1.2, 1.2.3, 1.x, 1.2.*, x, or a full version with a prerelease."""
    parts = [str(draw(nums)) for _ in range(draw(st.integers(1, 3)))]
    if len(parts) < 3 and draw(st.booleans()):
        parts.append(draw(st.sampled_from(["x", "X", "*"])))
    if len(parts) == 3 and parts[2].isdigit() and draw(st.booleans()):
        parts[2] += "-" + draw(st.sampled_from(["alpha", "beta.1", "rc.2"]))
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["x", "*"]))
    return ".".join(parts)


@st.composite
def comparator_sets(draw) -> str:
    if draw(st.integers(0, 4)) == 0:
        return f"{draw(partials())} - {draw(partials())}"
    items = [draw(st.sampled_from(["", "^", "~", "~>", ">=", ">", "<=", "<", "="])) + draw(partials())
             for _ in range(draw(st.integers(1, 3)))]
    return " ".join(items)


ranges = st.lists(comparator_sets(), min_size=1, max_size=3).map(" || ".join)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.sampled_from(OPS), versions, versions)
def test_a_primitive_comparator_agrees_with_semver(op, bound, v):
    """`op bound` contains v iff semver says `v op bound`, except that a prerelease v is only ever in a set
    naming a prerelease of the same MAJOR.MINOR.PATCH (npm's rule)."""
    expected = v.match(f"{'==' if op == '=' else op}{bound}")
    if v.prerelease:
        expected = expected and bool(bound.prerelease) and bound.finalize_version() == v.finalize_version()
    assert parse_range(f"{op}{bound}").contains(v) == expected


@settings(max_examples=EXAMPLES, deadline=None)
@given(ranges, versions)
def test_a_version_satisfies_a_range_iff_it_satisfies_one_set_of_comparators(text, v):
    """Membership is exactly: some ||-alternative whose every primitive comparator semver agrees with (and the
    prerelease rule); the primitive comparators are those of the normalised form."""
    r = parse_range(text)

    def set_holds(comparator_set) -> bool:
        holds = all(v.match(f"{'==' if c.op == '=' else c.op}{c.version}") for c in comparator_set.comparators)
        if v.prerelease:
            holds = holds and any(c.version.prerelease and c.version.finalize_version() == v.finalize_version()
                                  for c in comparator_set.comparators)
        return holds

    assert r.contains(v) == any(set_holds(s) for s in r.sets)
    assert r.contains(str(v)) == r.contains(v)


@settings(max_examples=EXAMPLES, deadline=None)
@given(ranges)
def test_the_normalised_form_round_trips(text):
    r = parse_range(text)
    again = parse_range(str(r))
    assert again.sets == r.sets
    assert str(again) == str(r)


@settings(max_examples=EXAMPLES, deadline=None)
@given(ranges, st.lists(versions, max_size=12))
def test_the_normalised_form_selects_the_same_versions(text, candidates):
    r, again = parse_range(text), parse_range(str(parse_range(text)))
    assert [again.contains(v) for v in candidates] == [r.contains(v) for v in candidates]


@settings(max_examples=EXAMPLES, deadline=None)
@given(versions, versions)
def test_ordering_is_consistent_with_semver(a, b):
    assert parse_version(str(a)) == a and parse_version(f"v{a}") == a
    if not (a.prerelease or b.prerelease):
        assert parse_range(f">{a}").contains(b) == (b > a) == parse_range(f"<{b}").contains(a)
        assert parse_range(f"<={a}").contains(b) == (b <= a) == parse_range(f">={b}").contains(a)
        assert parse_range(f"{a} - {b}").contains(a) == (a <= b)


@settings(max_examples=EXAMPLES, deadline=None)
@given(ranges, st.lists(versions, max_size=12))
def test_max_satisfying_is_the_semver_maximum_of_the_matches(text, candidates):
    r = parse_range(text)
    texts = [str(v) for v in candidates]
    matching = r.filter(texts)
    assert matching == [t for t in texts if r.contains(t)]
    best = r.max_satisfying(texts)
    if not matching:
        assert best is None
    else:
        assert best in matching
        assert all(semver.Version.parse(best) >= semver.Version.parse(t) for t in matching)


@settings(max_examples=EXAMPLES, deadline=None)
@given(releases, releases, versions)
def test_hyphen_range_is_inclusive_interval(low, high, v):
    expected = low <= v <= high and not v.prerelease
    assert parse_range(f"{low} - {high}").contains(v) == expected
