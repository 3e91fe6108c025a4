"""SemVer ranges: the npm forms the registry accepts, their errors, and properties over random versions."""

from __future__ import annotations

import pytest
import semver
from hypothesis import given, settings
from hypothesis import strategies as st

from action_registry.errors import DocumentError
from action_registry.versions import parse_range, parse_version, same_line, satisfies

CASES = [
    ("1.x", "1.0.0", True), ("1.x", "1.99.3", True), ("1.x", "2.0.0", False), ("1.x", "0.9.9", False),
    ("1.X", "1.2.3", True), ("1", "1.5.0", True), ("1", "2.0.0", False),
    ("1.2.x", "1.2.0", True), ("1.2.x", "1.2.9", True), ("1.2.x", "1.3.0", False), ("1.2", "1.2.4", True),
    ("^1.2.0", "1.2.0", True), ("^1.2.0", "1.9.9", True), ("^1.2.0", "2.0.0", False), ("^1.2.0", "1.1.9", False),
    ("^0.2.3", "0.2.9", True), ("^0.2.3", "0.3.0", False), ("^0.0.3", "0.0.3", True), ("^0.0.3", "0.0.4", False),
    ("^1.2", "1.9.0", True), ("^1", "1.0.0", True), ("^0", "0.9.0", True), ("^0", "1.0.0", False),
    ("~1.2", "1.2.0", True), ("~1.2", "1.2.99", True), ("~1.2", "1.3.0", False), ("~1.2.3", "1.2.2", False),
    ("~1", "1.9.0", True), ("~1", "2.0.0", False), ("~>1.2", "1.2.5", True),
    (">=1.0.0 <2.0.0", "1.0.0", True), (">=1.0.0 <2.0.0", "1.9.9", True), (">=1.0.0 <2.0.0", "2.0.0", False),
    (">= 1.0.0  < 2.0.0", "1.5.0", True), (">1.2", "1.2.9", False), (">1.2", "1.3.0", True),
    ("<=1.2", "1.2.9", True), ("<=1.2", "1.3.0", False), ("<1.2", "1.1.9", True), ("<1.2", "1.2.0", False),
    ("1.2.3", "1.2.3", True), ("1.2.3", "1.2.4", False), ("=1.2.3", "1.2.3", True), ("v1.2.3", "1.2.3", True),
    ("1.2.3+build.5", "1.2.3", True),
    ("*", "0.0.1", True), ("*", "99.0.0", True), ("x", "3.1.4", True), ("", None, None),
    ("1.x || >=3.1.0", "3.2.0", True), ("1.x || >=3.1.0", "2.5.0", False), ("1.0.0 || 2.0.0", "2.0.0", True),
    ("1.0.0 - 2.0.0", "2.0.0", True), ("1.0.0 - 2.0.0", "2.0.1", False), ("1.2 - 2.3", "2.3.9", True),
    ("1.2 - 2.3", "2.4.0", False),
    # prereleases match only ranges that name a prerelease of the same MAJOR.MINOR.PATCH
    ("^1.0.0", "1.1.0-beta.1", False), ("*", "1.0.0-rc.1", False), ("1.0.0-rc.1", "1.0.0-rc.1", True),
    (">=1.1.0-beta <2.0.0", "1.1.0-beta.2", True), (">=1.1.0-beta <2.0.0", "1.2.0-beta.2", False),
    ("<x", "1.0.0", False),
]


@pytest.mark.parametrize(("text", "version", "expected"), [c for c in CASES if c[1] is not None])
def test_range_contains(text, version, expected):
    assert satisfies(version, text) is expected
    assert (version in parse_range(text)) is expected


@pytest.mark.parametrize("text", ["", "  ", "abc", "1.x.3", "x.2", ">=", "^", "1.2.3.4", "1 ||", "|| 1",
                                  "1.0.0-", ">=1.0.0 <", "1.2.3-beta - ", "01.2.3", "1.2.-3", "~=1.2",
                                  "1.0.0 - ", "1.2-rc.1", "a" * 600])
def test_invalid_ranges_raise_invalid_range(text):
    with pytest.raises(DocumentError) as info:
        parse_range(text)
    assert info.value.code == "invalid_range"
    assert info.value.status == 422
    assert info.value.suggestion


def test_non_strings_are_refused():
    with pytest.raises(DocumentError):
        parse_range(None)  # type: ignore[arg-type]
    with pytest.raises(DocumentError):
        parse_version("1.2")


def test_filter_and_max_satisfying_keep_order():
    versions = ["1.0.0", "1.2.0", "2.0.0", "1.10.0", "2.1.0-rc.1"]
    r = parse_range("^1.0.0")
    assert r.filter(versions) == ["1.0.0", "1.2.0", "1.10.0"]
    assert r.max_satisfying(versions) == "1.10.0"
    assert parse_range("3.x").max_satisfying(versions) is None


def test_str_is_normalised_comparators():
    assert str(parse_range("1.x")) == ">=1.0.0 <2.0.0"
    assert str(parse_range("~1.2 || *")) == ">=1.2.0 <1.3.0 || *"


def test_same_line():
    assert same_line("1.0.0", "1.9.0")
    assert not same_line("1.0.0", "2.0.0")
    assert same_line("0.3.0", "0.3.9")
    assert not same_line("0.3.0", "0.4.0")


# --- properties ------------------------------------------------------------------------------------

nums = st.integers(min_value=0, max_value=50)
releases = st.builds(semver.Version, nums, nums, nums)
prerelease_tags = st.from_regex(r"\A(alpha|beta|rc)(\.[0-9]{1,2})?\Z")
any_versions = st.one_of(releases, st.builds(semver.Version, nums, nums, nums, prerelease_tags))


@settings(max_examples=150, deadline=None)
@given(releases)
def test_exact_range_contains_only_itself(v):
    r = parse_range(str(v))
    assert r.contains(v)
    assert not r.contains(v.bump_patch())
    assert not r.contains(v.bump_minor())


@settings(max_examples=150, deadline=None)
@given(releases)
def test_caret_and_tilde(v):
    caret, tilde = parse_range(f"^{v}"), parse_range(f"~{v}")
    assert caret.contains(v) and tilde.contains(v)
    assert tilde.contains(v.bump_patch())
    assert not tilde.contains(v.bump_minor())
    assert not caret.contains(v.bump_major())
    if v.major > 0:
        assert caret.contains(v.bump_minor())
    # ~ never allows more than ^, except for 0.0.z where ^ pins the exact patch (as npm does)
    for w in (v.bump_patch(), v.bump_minor(), v.bump_major()):
        if tilde.contains(w) and (v.major or v.minor):
            assert caret.contains(w)
    if not (v.major or v.minor):
        assert not caret.contains(v.bump_patch())


@settings(max_examples=150, deadline=None)
@given(releases, releases, releases)
def test_interval_matches_comparisons(lo, hi, v):
    r = parse_range(f">={lo} <{hi}")
    assert r.contains(v) == (lo <= v < hi)
    assert parse_range(f">={lo} <{hi}").contains(v) == parse_range(f">= {lo} < {hi}").contains(v)


@settings(max_examples=150, deadline=None)
@given(nums, nums, releases)
def test_x_ranges_are_blocks(major, minor, v):
    assert parse_range(f"{major}.x").contains(v) == (v.major == major)
    assert parse_range(f"{major}.{minor}.x").contains(v) == (v.major == major and v.minor == minor)


@settings(max_examples=150, deadline=None)
@given(releases, releases, any_versions)
def test_union_is_or(a, b, v):
    ra, rb = f"^{a}", f"~{b}"
    assert parse_range(f"{ra} || {rb}").contains(v) == (parse_range(ra).contains(v) or parse_range(rb).contains(v))


@settings(max_examples=150, deadline=None)
@given(any_versions)
def test_star_is_every_release(v):
    assert parse_range("*").contains(v) == (not v.prerelease)


@settings(max_examples=200, deadline=None)
@given(releases, releases, any_versions)
def test_normalised_form_means_the_same(a, b, v):
    for text in (f"^{a}", f"~{a.major}.{a.minor}", f"{a.major}.x || >={b}", f"{a} - {b}"):
        r = parse_range(text)
        assert parse_range(str(r)).contains(v) == r.contains(v)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="0123456789.xX*^~<>=|- vabrc+", max_size=30))
def test_parser_only_ever_raises_invalid_range(text):
    try:
        r = parse_range(text)
    except DocumentError as exc:
        assert exc.code == "invalid_range"
    else:
        r.contains("1.2.3")
