"""Properties of the canonicaliser (action_registry/canonical.py) beyond re-serialisation (test_canonical.py):
canonical bytes round-trip to the same value, match an independent serialisation for non-float values,
order keys by UTF-16 code units, and the strict parser refuses a duplicate key or unsafe integer anywhere."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from action_registry.canonical import MAX_SAFE_INTEGER, canonicalize, check_value, parse_json
from action_registry.errors import CanonicalizationError

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "100"))  # nightly: more (docs/testing.md, "Fuzzing")

# Text without lone surrogates (UTF-8 cannot carry them; the parser refuses them, tested elsewhere).
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
safe_ints = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
scalars_without_floats = st.none() | st.booleans() | safe_ints | texts
floats = st.floats(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER, allow_nan=False) | st.floats(1e21, 1e300)


def _trees(leaves):
    return st.recursive(leaves, lambda children: st.lists(children, max_size=4)
                        | st.dictionaries(texts, children, max_size=4), max_leaves=20)


values = _trees(scalars_without_floats | floats)
values_without_floats = _trees(scalars_without_floats)


def _utf16_sorted(value):
    if isinstance(value, dict):
        return {k: _utf16_sorted(value[k]) for k in sorted(value, key=lambda k: k.encode("utf-16-be"))}
    if isinstance(value, list):
        return [_utf16_sorted(v) for v in value]
    return value


@settings(max_examples=EXAMPLES, deadline=None)
@given(values)
def test_canonical_bytes_parse_back_to_the_same_value(value):
    check_value(value)
    data = canonicalize(value)
    assert parse_json(data) == value
    assert canonicalize(parse_json(data)) == data


@settings(max_examples=EXAMPLES, deadline=None)
@given(values_without_floats)
def test_without_floats_the_bytes_are_compact_utf16_sorted_json(value):
    """RFC 8785 for strings, integers and literals is JSON with no whitespace, keys sorted by UTF-16 code
    units, UTF-8 text and only the mandatory escapes: what the standard library writes, given that order."""
    reference = json.dumps(_utf16_sorted(value), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert canonicalize(value) == reference


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.dictionaries(texts, safe_ints, min_size=2, max_size=8))
def test_keys_come_out_in_utf16_order(obj):
    keys = []
    json.loads(canonicalize(obj), object_pairs_hook=lambda pairs: keys.extend(k for k, _ in pairs) or {})
    assert keys == sorted(obj, key=lambda k: k.encode("utf-16-be"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(values, texts, st.data())
def test_a_duplicate_key_anywhere_is_refused(value, key, data):
    """Wrap the value in an object at a random depth and repeat one of its keys in the text."""
    depth = data.draw(st.integers(0, 3))
    inner = json.dumps(key) + ":1," + json.dumps(key) + ":" + json.dumps(value, allow_nan=False)
    text = "{" + inner + "}"
    for _ in range(depth):
        text = '{"k":[' + text + "]}"
    with pytest.raises(CanonicalizationError) as info:
        parse_json(text)
    assert info.value.code == "duplicate_key"


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.integers(MAX_SAFE_INTEGER + 1, 2**80), st.booleans())
def test_an_unsafe_integer_is_refused_by_both_doors(n, negative):
    n = -n if negative else n
    with pytest.raises(CanonicalizationError) as info:
        parse_json(json.dumps({"n": [n]}))
    assert info.value.code == "invalid_number"
    with pytest.raises(CanonicalizationError):
        check_value({"n": [n]})


# Characters around the places where the fast encoder and RFC 8785 could part: controls, quotes and backslashes,
# the last BMP characters below the surrogates, the private-use block above them, and supplementary characters.
awkward = st.text(st.sampled_from("a\x00\x1f\x7f\"\\/\b\f\n\r\t\u2028\u00e9\ud7ff\ue000\uffff\U00010000\U0001f600"),
                  max_size=6)
wide_values = st.recursive(st.none() | st.booleans() | safe_ints | awkward | texts | floats,
                           lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(awkward | texts, children, max_size=5), max_leaves=24)


@settings(max_examples=EXAMPLES * 3, deadline=None)
@given(wide_values)
def test_the_fast_encoder_writes_what_rfc8785_writes(value):
    """canonicalize takes the standard library's C encoder for plain values and rfc8785 for the rest: whichever
    it takes, the bytes are rfc8785's, and check_value says plain only when the C encoder's bytes are."""
    import rfc8785

    reference = rfc8785.dumps(value)
    plain = check_value(value)
    assert canonicalize(value) == reference
    assert canonicalize(value, plain=plain) == reference
    if plain:
        assert json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() == reference


def test_plain_means_no_double_and_no_key_from_the_surrogates_up():
    assert check_value({"a": [1, "\U0001f600", {"\ud7ff": None}]}) is True
    assert check_value({"a": 1.5}) is False
    assert check_value({"\ue000": 1}) is False
    assert check_value({"\U00010000": 1}) is False
    # The order a plain-key check guards: U+E000 sorts after U+10000 in UTF-16, before it by code point.
    assert canonicalize({"\ue000": 1, "\U00010000": 2}) == '{"\U00010000":2,"\ue000":1}'.encode()
