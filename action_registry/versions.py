"""SemVer ranges (``1.x``, ``^1.2.0``, ``~1.2``, ``>=1.0.0 <2.0.0``, ``a || b``) over the ``semver`` package."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import semver

from .errors import DocumentError

RANGE_MAX = 500
_X = r"(?:0|[1-9]\d*|[xX*])"
_PRE = r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
_BUILD = r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
_PARTIAL = rf"v?(?P<major>{_X})(?:\.(?P<minor>{_X})(?:\.(?P<patch>{_X}){_PRE}{_BUILD})?)?"
_PARTIAL_RE = re.compile(rf"^{_PARTIAL}$")
_COMPARATOR_RE = re.compile(rf"^(?P<op>\^|~>?|>=|<=|>|<|=)?\s*{_PARTIAL}$")
_HYPHEN_RE = re.compile(r"^(\S+)\s+-\s+(\S+)$")
# Operators may be written apart from their version (">= 1.0.0"); glue them before splitting on spaces.
_GLUE_RE = re.compile(r"(\^|~>?|>=|<=|>|<|=)\s+")


def _invalid(text: str, why: str) -> DocumentError:
    return DocumentError(f"{text[:80]!r} is not a version range: {why}", code="invalid_range",
                         suggestion="Use versions and ranges such as 1.2.3, 1.x, ^1.2.0, ~1.2, "
                                    ">=1.0.0 <2.0.0, * or a || b.")


@dataclass(frozen=True)
class Comparator:
    """One primitive comparison, e.g. ``>=1.2.0``; ``op`` is one of ``>= > <= < =``."""

    op: str
    version: semver.Version

    def test(self, v: semver.Version) -> bool:
        c = v.compare(self.version)
        return {">=": c >= 0, ">": c > 0, "<=": c <= 0, "<": c < 0, "=": c == 0}[self.op]

    def __str__(self) -> str:
        return f"{'' if self.op == '=' else self.op}{self.version}"


@dataclass(frozen=True)
class ComparatorSet:
    """Comparators that must all hold (written space-separated); empty means any release."""

    comparators: tuple[Comparator, ...]

    def test(self, v: semver.Version) -> bool:
        if not all(c.test(v) for c in self.comparators):
            return False
        if v.prerelease:
            # As npm does: a prerelease matches only a set that names a prerelease of the same
            # MAJOR.MINOR.PATCH, so `^1.0.0` never quietly selects 1.1.0-beta.
            return any(c.version.prerelease and c.version.finalize_version() == v.finalize_version()
                       for c in self.comparators)
        return True

    def __str__(self) -> str:
        return " ".join(str(c) for c in self.comparators) or "*"


@dataclass(frozen=True)
class Range:
    """A parsed range: a union (``||``) of comparator sets. ``text`` is what was written."""

    text: str
    sets: tuple[ComparatorSet, ...]

    def contains(self, version: str | semver.Version) -> bool:
        v = version if isinstance(version, semver.Version) else parse_version(version)
        return any(s.test(v) for s in self.sets)

    __contains__ = contains

    def filter(self, versions: Iterable[str]) -> list[str]:
        """The versions in the range, in the order given."""
        return [v for v in versions if self.contains(v)]

    def max_satisfying(self, versions: Iterable[str]) -> str | None:
        matching = self.filter(versions)
        return max(matching, key=semver.Version.parse) if matching else None

    def __str__(self) -> str:
        return " || ".join(str(s) for s in self.sets)


def parse_version(text: str) -> semver.Version:
    """A strict SemVer 2.0.0 version, or ``DocumentError(invalid_range)``."""
    try:
        return semver.Version.parse(text.strip().removeprefix("v"))
    except (ValueError, TypeError, AttributeError):
        raise _invalid(str(text), "not a MAJOR.MINOR.PATCH version") from None


def parse_range(text: str) -> Range:
    """Parse a range as npm writes them; raise ``DocumentError`` with code ``invalid_range`` if it is not one."""
    if not isinstance(text, str):
        raise _invalid(repr(text), "a range is a string")
    if len(text) > RANGE_MAX:
        raise _invalid(text, f"longer than {RANGE_MAX} characters")
    if not text.strip():
        raise _invalid(text, "empty")
    sets = []
    for part in text.split("||"):
        part = part.strip()
        if not part:
            raise _invalid(text, "an empty alternative around ||")
        sets.append(ComparatorSet(tuple(_parse_set(part, text))))
    return Range(text=text, sets=tuple(sets))


def satisfies(version: str, range_text: str) -> bool:
    return parse_range(range_text).contains(version)


def same_line(a: str | semver.Version, b: str | semver.Version) -> bool:
    """True when SemVer promises compatibility between ``a`` and ``b``: same major, or same 0.minor."""
    va = a if isinstance(a, semver.Version) else parse_version(a)
    vb = b if isinstance(b, semver.Version) else parse_version(b)
    if va.major != vb.major:
        return False
    return va.major != 0 or va.minor == vb.minor


# --- parsing ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Partial:
    major: int | None
    minor: int | None
    patch: int | None
    pre: str | None

    def floor(self) -> semver.Version:
        return semver.Version(self.major or 0, self.minor or 0, self.patch or 0, self.pre)


def _num(text: str | None) -> int | None:
    if text is None or text in ("x", "X", "*"):
        return None
    return int(text)


def _partial(match: re.Match, source: str) -> _Partial:
    major, minor, patch = _num(match["major"]), _num(match["minor"]), _num(match["patch"])
    # "1.x.3" and "x.2" are nonsense: once a part is a wildcard, every later part must be one too.
    if (major is None and (minor is not None or patch is not None)) or (minor is None and patch is not None):
        raise _invalid(source, "a number after a wildcard")
    if match["pre"] and patch is None:
        raise _invalid(source, "a prerelease needs MAJOR.MINOR.PATCH")
    return _Partial(major, minor, patch, match["pre"])


def _parse_set(part: str, source: str) -> list[Comparator]:
    hyphen = _HYPHEN_RE.match(part)
    if hyphen:
        return _hyphen(hyphen[1], hyphen[2], source)
    out: list[Comparator] = []
    for token in _GLUE_RE.sub(r"\1", part).split():
        match = _COMPARATOR_RE.match(token)
        if not match:
            raise _invalid(source, f"cannot read {token[:40]!r}")
        out.extend(_desugar(match["op"] or "", _partial(match, source)))
    return out


def _hyphen(low: str, high: str, source: str) -> list[Comparator]:
    lo_m, hi_m = _PARTIAL_RE.match(low), _PARTIAL_RE.match(high)
    if not lo_m or not hi_m:
        raise _invalid(source, "a hyphen range joins two versions")
    lo, hi = _partial(lo_m, source), _partial(hi_m, source)
    out = [] if lo.major is None else [Comparator(">=", lo.floor())]
    if hi.major is None:
        return out
    if hi.minor is None:
        return [*out, Comparator("<", semver.Version(hi.major + 1, 0, 0))]
    if hi.patch is None:
        return [*out, Comparator("<", semver.Version(hi.major, hi.minor + 1, 0))]
    return [*out, Comparator("<=", hi.floor())]


def _desugar(op: str, p: _Partial) -> list[Comparator]:
    """One written comparator -> primitive comparators (npm semantics)."""
    if p.major is None:  # *, x, >=x: any version; <x and >x: nothing at all
        return [Comparator("<", semver.Version(0, 0, 0, "0"))] if op in ("<", ">") else []
    if op == "^":
        return _caret(p)
    if op in ("~", "~>"):
        upper = semver.Version(p.major + 1, 0, 0) if p.minor is None else semver.Version(p.major, p.minor + 1, 0)
        return [Comparator(">=", p.floor()), Comparator("<", upper)]
    if p.patch is not None:
        return [Comparator(op if op else "=", p.floor())]
    # Partial versions: 1.2 means 1.2.x; compare against the whole block they name.
    block_end = (semver.Version(p.major + 1, 0, 0) if p.minor is None
                 else semver.Version(p.major, p.minor + 1, 0))
    if op in ("", "="):
        return [Comparator(">=", p.floor()), Comparator("<", block_end)]
    if op == ">=":
        return [Comparator(">=", p.floor())]
    if op == ">":
        return [Comparator(">=", block_end)]
    if op == "<":
        return [Comparator("<", p.floor())]
    return [Comparator("<", block_end)]  # <=


def _caret(p: _Partial) -> list[Comparator]:
    """^ allows changes that do not modify the left-most non-zero part."""
    major, minor, patch = p.major, p.minor, p.patch
    if major > 0 or minor is None:
        upper = semver.Version(major + 1, 0, 0)
    elif minor > 0 or patch is None:
        upper = semver.Version(0, minor + 1, 0)
    else:
        upper = semver.Version(0, 0, patch + 1)
    return [Comparator(">=", p.floor()), Comparator("<", upper)]
