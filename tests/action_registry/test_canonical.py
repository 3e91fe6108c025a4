"""RFC 8785 canonical bytes: the RFC's vectors, strict parsing, and re-serialisation invariance."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from action_registry.canonical import (
    MAX_SAFE_INTEGER,
    canonicalize,
    content_hash,
    parse_json,
)
from action_registry.errors import CanonicalizationError
from tests.conftest import TESTDATA

JCS = TESTDATA / "jcs"
VECTORS = sorted(p.stem for p in (JCS / "input").glob("*.json"))


def test_vectors_present():
    assert len(VECTORS) == 6


@pytest.mark.parametrize("name", VECTORS)
def test_rfc8785_vectors(name):
    raw = (JCS / "input" / f"{name}.json").read_bytes()
    expected = (JCS / "output" / f"{name}.json").read_bytes()
    assert canonicalize(parse_json(raw)) == expected


@pytest.mark.parametrize("raw, code", [
    ('{"a": 1, "a": 2}', "duplicate_key"),
    ('{"x": {"b": true, "b": false}}', "duplicate_key"),
    ('{"n": 9007199254740992}', "invalid_number"),
    ('{"n": -9007199254740992}', "invalid_number"),
    ('{"n": NaN}', "invalid_number"),
    ('{"n": Infinity}', "invalid_number"),
    ('{"n": 1e400}', "invalid_number"),
    ('{"n": 9007199254740992.0}', "invalid_number"),
    ('{"n": 1e20}', "invalid_number"),
    ('{"s": "\\ud800"}', "invalid_unicode"),
    ('{"\\udfff": 1}', "invalid_unicode"),
    ('{"a": ', "invalid_json"),
    ("[" * 100 + "]" * 100, "too_deep"),
    ("[" * 100000, "too_deep"),
])
def test_strict_parse_refuses(raw, code):
    with pytest.raises(CanonicalizationError) as exc:
        parse_json(raw.encode())
    assert exc.value.code == code


def test_invalid_utf8_refused():
    with pytest.raises(CanonicalizationError) as exc:
        parse_json(b'{"a": "\xff"}')
    assert exc.value.code == "invalid_json"


def test_safe_integer_edges_accepted():
    assert parse_json(f'[{MAX_SAFE_INTEGER}, -{MAX_SAFE_INTEGER}]'.encode()) == [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]


def test_large_doubles_in_exponent_form_accepted():
    assert canonicalize(parse_json(b'[1e30, -1E21]')) == b"[1e+30,-1e+21]"


def test_surrogate_pair_accepted():
    assert parse_json(b'{"e": "\\ud83d\\ude00"}') == {"e": "\U0001F600"}


def test_content_hash_format():
    h = content_hash(b"{}")
    assert h == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.floats(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.floats(1e21, 1e300) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)


def _reserialise(value, rnd: random.Random, ensure_ascii: bool) -> str:
    """Another client's bytes for the same value: shuffled keys, other whitespace, other escapes."""
    def shuffle(v):
        if isinstance(v, dict):
            items = list(v.items())
            rnd.shuffle(items)
            return {k: shuffle(x) for k, x in items}
        if isinstance(v, list):
            return [shuffle(x) for x in v]
        return v
    return json.dumps(shuffle(value), ensure_ascii=ensure_ascii, indent=rnd.choice([None, 1, 4]),
                      separators=rnd.choice([(",", ":"), (", ", ": ")]))


@settings(max_examples=300, deadline=None)
@given(value=st.dictionaries(st.text(max_size=8), json_values, max_size=6), seed=st.integers(0, 2**32),
       ascii_=st.booleans())
def test_any_reserialisation_gives_the_same_hash(value, seed, ascii_):
    rnd = random.Random(seed)
    original = canonicalize(parse_json(json.dumps(value)))
    again = canonicalize(parse_json(_reserialise(value, rnd, ascii_).encode()))
    assert content_hash(again) == content_hash(original)
    # Canonical bytes are a fixed point.
    assert canonicalize(parse_json(original)) == original
