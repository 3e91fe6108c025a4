"""RFC 8785 canonical bytes and content hashes: the one definition of "the same document"."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import rfc8785

from .errors import CanonicalizationError

MAX_SAFE_INTEGER = 2**53 - 1
DEFAULT_MAX_DEPTH = 64
CONTENT_HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    obj: dict = {}
    for key, value in pairs:
        if key in obj:
            raise CanonicalizationError(f"duplicate key {key!r} in a JSON object", code="duplicate_key",
                                        suggestion="Each key may appear once per object; remove the repeat.")
        obj[key] = value
    return obj


def _refuse_constant(name: str) -> Any:
    raise CanonicalizationError(f"{name} is not a JSON number", code="invalid_number",
                                suggestion="Use finite numbers only.")


def _parse_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise CanonicalizationError(
            f"integer {text[:40]} is outside the I-JSON safe range +/-(2**53-1)", code="invalid_number",
            suggestion="Send large integers as strings.")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise CanonicalizationError(f"number {text[:40]} overflows an IEEE 754 double", code="invalid_number",
                                    suggestion="Send numbers that fit a 64-bit float, or strings.")
    # RFC 8785 writes doubles in [2**53, 1e21) as plain integer digits, which would then be an unsafe
    # integer literal: refusing them here keeps canonical bytes a fixed point of parse + canonicalize.
    # (From 1e21 up the canonical form is exponential, e.g. 1e+30, and stays a float.)
    if MAX_SAFE_INTEGER < abs(value) < 1e21:
        raise CanonicalizationError(
            f"number {text[:40]} is outside the I-JSON safe range +/-(2**53-1)", code="invalid_number",
            suggestion="Send large numbers as strings.")
    return value


def _scan(value: Any, max_depth: int) -> bool:
    """Every check on a value, in one iterative walk: depth, lone surrogates (which UTF-8 cannot carry), integers
    and doubles in the I-JSON range, JSON types only. Returns whether the value is *plain*: no doubles, and no
    object key holding a character from U+D800 up. For a plain value the standard library's compact, key-sorted
    JSON is byte for byte the RFC 8785 form: code-point order and UTF-16 order agree below U+D800, and the
    escapes it writes are the ones RFC 8785 mandates (see canonicalize)."""
    plain = True
    stack = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        kind = type(node)
        if kind is str:
            if not node.isascii():
                _check_str(node)
        elif kind is dict:
            if depth > max_depth:
                raise _too_deep(max_depth)
            for key, child in node.items():
                if type(key) is not str:
                    raise CanonicalizationError(f"object key {key!r} is not a string", code="invalid_json")
                if not key.isascii():
                    _check_str(key)
                    if max(key) >= "\ud800":
                        plain = False
                if type(child) is str:
                    if not child.isascii():
                        _check_str(child)
                else:
                    push((child, depth + 1))
        elif kind is list:
            if depth > max_depth:
                raise _too_deep(max_depth)
            for child in node:
                if type(child) is str:
                    if not child.isascii():
                        _check_str(child)
                else:
                    push((child, depth + 1))
        elif node is None or kind is bool:
            continue
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= node <= MAX_SAFE_INTEGER:
                _parse_int(str(node))
        elif kind is float:
            plain = False
            if node != node or node in (float("inf"), float("-inf")):
                _refuse_constant(repr(node))
            _parse_float(repr(node))
        else:  # subclasses of JSON types (a str enum, say) and non-JSON types: the general checks
            plain = False
            if isinstance(node, str):
                _check_str(node)
            elif isinstance(node, bool):
                continue
            elif isinstance(node, int):
                _parse_int(str(int(node)))
            elif isinstance(node, float):
                push((float(node), depth))
            elif isinstance(node, dict):
                push((dict(node), depth))
            elif isinstance(node, list):
                push((list(node), depth))
            else:
                raise CanonicalizationError(f"{type(node).__name__} is not a JSON type", code="invalid_json")
    return plain


def _check_str(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalizationError("string contains a lone surrogate (invalid Unicode)",
                                    code="invalid_unicode",
                                    suggestion="Escape only complete surrogate pairs.") from None


def _too_deep(max_depth: int) -> CanonicalizationError:
    return CanonicalizationError(f"JSON nests deeper than {max_depth} levels", code="too_deep",
                                 suggestion=f"Flatten the document to at most {max_depth} levels.")


def parse_json(data: bytes | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse strictly: duplicate keys, NaN/Infinity, unsafe integers, lone surrogates and deep nesting refused."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CanonicalizationError(f"body is not valid UTF-8 ({exc.reason})", code="invalid_json") from None
    try:
        value = json.loads(data, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant,
                           parse_int=_parse_int, parse_float=_parse_float)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except json.JSONDecodeError as exc:
        raise CanonicalizationError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                                    code="invalid_json", suggestion="Send one well-formed JSON value.") from None
    _scan(value, max_depth)
    return value


# Compact, keys sorted by code point, UTF-8 text, only the mandatory escapes (\" \\ \b \f \n \r \t and \u00xx
# in lowercase hex for the other control characters): RFC 8785, section 3.2.2.2, for strings, integers in the
# I-JSON range and literals. The C encoder writes it about ten times faster than rfc8785's Python serialiser.
_plain_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")).encode


def canonicalize(value: Any, *, plain: bool | None = None) -> bytes:
    """RFC 8785 bytes of a value. ``plain`` is what ``check_value`` (or ``parse_json``'s walk) returned for it;
    without it the value is checked here. Plain values (no doubles, no object key with a character from U+D800
    up) go through the standard library's C encoder, which writes the same bytes; the rest through rfc8785,
    whose ECMAScript number formatting and UTF-16 key order they need (tests/action_registry compare the two)."""
    if plain is None:
        plain = _scan(value, DEFAULT_MAX_DEPTH)
    if plain:
        return _plain_json(value).encode("utf-8")
    try:
        return rfc8785.dumps(value)
    except rfc8785.IntegerDomainError as exc:
        raise CanonicalizationError(str(exc), code="invalid_number") from None
    except rfc8785.FloatDomainError as exc:
        raise CanonicalizationError(str(exc), code="invalid_number") from None
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalizationError(str(exc), code="invalid_json") from None


def check_value(value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> bool:
    """The checks ``parse_json`` makes, for a value built in Python rather than parsed. Returns whether the value
    is plain: pass that to ``canonicalize`` so it does not walk the value again."""
    return _scan(value, max_depth)


def content_hash(canonical_bytes: bytes) -> str:
    """``sha256:`` + lowercase hex SHA-256 of the canonical bytes."""
    return "sha256:" + hashlib.sha256(canonical_bytes).hexdigest()


def canonical_and_hash(value: Any) -> tuple[bytes, str]:
    data = canonicalize(value)
    return data, content_hash(data)
