"""Typed HTTP client of the registry's REST API (sync and async, httpx), with verification done locally.

Every operation is written once, as a *flow*: a generator that yields ``Call`` objects (one HTTP request
each, with the parser of its answer) and returns the typed result. ``RegistryClient`` and
``AsyncRegistryClient`` only differ in how they run a call, so request building, response parsing,
retries and verification cannot drift apart. Adding an endpoint means one flow in ``_ops`` plus a
one-line method on each client.

Verification (``verify``) trusts nothing the registry says about validity: it re-parses the returned
document strictly, recomputes its RFC 8785 bytes and content hash, checks the signature with
``action_registry.crypto`` against the key (the registry's public key, or one pinned by the caller), and
only reports the server's own verdict next to its own.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import anyio
import httpx

from . import __version__, crypto
from .canonical import canonicalize, content_hash, parse_json
from .document import in_namespace, parse_signature, validate_document
from .errors import (
    ApiError,
    AuthError,
    ConflictError,
    InvalidResponseError,
    NetworkError,
    NotFoundError,
    RegistryError,
    ServerError,
)

__all__ = [
    "ENV_API_KEY", "ENV_URL", "DEFAULT_URL", "RetryPolicy", "RegistryClient", "AsyncRegistryClient",
    "Signature", "ServerVerification", "VersionRecord", "ActionSummary", "ActionPage", "VersionSummary",
    "ActionDetail", "Key", "KeyList", "PublishResult", "LocalVerification", "PinnedKey", "verify_record",
    "Deprecation", "DeprecationState", "VersionDiff", "CompatibilityGraph", "KeyChain", "InclusionProof",
    "ConsistencyProof", "ServerVerifyResult",
]

ENV_URL = "ACTION_REGISTRY_URL"
ENV_API_KEY = "ACTION_REGISTRY_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 10.0
# A record wraps the document one level deeper than the publish limit; leave room for the server's setting.
RESPONSE_MAX_DEPTH = 256
USER_AGENT = f"action-registry-client/{__version__}"

T = TypeVar("T")


# --- retries --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter, for 5xx answers, connection errors and timeouts only.

    A 4xx is the caller's mistake and is never retried. Publishing is safe to retry: re-publishing
    identical bytes answers 200 with the existing record.
    """

    max_retries: int = 3
    backoff: float = 0.25
    max_backoff: float = 4.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based): half fixed, half random ("equal jitter")."""
        ceiling = min(self.max_backoff, self.backoff * (2 ** attempt))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


NO_RETRY = RetryPolicy(max_retries=0)


# --- typed results --------------------------------------------------------------------------------

def _field(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidResponseError(f"{where}: field {key!r} is missing or not {getattr(kind, '__name__', kind)}")
    return value


def _opt(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if data.get(key) is None:
        return None
    return _field(data, key, kind, where)


def _time(data: Mapping[str, Any], key: str, where: str) -> datetime | None:
    text = _opt(data, key, str, where)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidResponseError(f"{where}: {key} is not an ISO 8601 time") from None


@dataclass(frozen=True)
class Signature:
    """A signature block: key id, algorithm, base64url signature over the canonical bytes."""

    kid: str
    alg: str
    sig: str

    @classmethod
    def from_json(cls, data: Any) -> Signature:
        return cls(kid=_field(data, "kid", str, "signature"), alg=_field(data, "alg", str, "signature"),
                   sig=_field(data, "sig", str, "signature"))

    def as_dict(self) -> dict:
        return {"kid": self.kid, "alg": self.alg, "sig": self.sig}


@dataclass(frozen=True)
class ServerVerification:
    """What the *registry* says about a version's signature (reported, never relied on by ``verify``)."""

    verified: bool
    kid: str
    alg: str
    key_status: str
    reason: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> ServerVerification:
        w = "verification"
        return cls(verified=_field(data, "verified", bool, w), kid=_field(data, "kid", str, w),
                   alg=_field(data, "alg", str, w), key_status=_field(data, "key_status", str, w),
                   reason=_opt(data, "reason", str, w))


@dataclass(frozen=True)
class Deprecation:
    """Why a version is deprecated and what to use instead."""

    reason: str
    successor: str | None
    at: datetime | None

    @classmethod
    def from_json(cls, data: Any) -> Deprecation | None:
        if not isinstance(data, Mapping):
            return None
        w = "deprecation"
        return cls(reason=_opt(data, "reason", str, w) or "", successor=_opt(data, "successor", str, w),
                   at=_time(data, "at", w))

    def as_dict(self) -> dict:
        return {"reason": self.reason, "successor": self.successor,
                "at": self.at.isoformat().replace("+00:00", "Z") if self.at else None}


@dataclass(frozen=True)
class VersionRecord:
    """One published version: the document as signed, its signature, hash and publication facts."""

    name: str
    version: str
    action: dict
    content_hash: str
    signature: Signature
    published_at: datetime | None
    latest: bool
    verification: ServerVerification | None
    raw: dict = field(repr=False, compare=False)
    deprecation: Deprecation | None = None

    @property
    def deprecated(self) -> bool:
        return self.deprecation is not None

    @classmethod
    def from_json(cls, data: Any) -> VersionRecord:
        w = "version record"
        verification = data.get("verification") if isinstance(data, Mapping) else None
        return cls(name=_field(data, "name", str, w), version=_field(data, "version", str, w),
                   action=_field(data, "action", dict, w), content_hash=_field(data, "content_hash", str, w),
                   signature=Signature.from_json(_field(data, "signature", dict, w)),
                   published_at=_time(data, "published_at", w), latest=bool(data.get("latest", False)),
                   verification=ServerVerification.from_json(verification) if verification else None,
                   raw=dict(data), deprecation=Deprecation.from_json(data.get("deprecation")))

    def envelope(self) -> dict:
        """The ``{"action", "signature"}`` envelope, e.g. to re-publish to another registry."""
        return {"action": self.action, "signature": self.signature.as_dict()}


@dataclass(frozen=True)
class ActionSummary:
    """One search hit: an action and its latest version."""

    name: str
    namespace: str
    latest_version: str
    description: str
    kid: str
    updated_at: datetime | None
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> ActionSummary:
        w = "search item"
        return cls(name=_field(data, "name", str, w), namespace=_field(data, "namespace", str, w),
                   latest_version=_field(data, "latest_version", str, w),
                   description=_field(data, "description", str, w), kid=_field(data, "kid", str, w),
                   updated_at=_time(data, "updated_at", w), raw=dict(data))


@dataclass(frozen=True)
class ActionPage:
    """A page of search results; ``total`` counts every match."""

    items: list[ActionSummary]
    total: int
    offset: int
    limit: int

    @classmethod
    def from_json(cls, data: Any) -> ActionPage:
        w = "search page"
        return cls(items=[ActionSummary.from_json(i) for i in _field(data, "items", list, w)],
                   total=_field(data, "total", int, w), offset=_field(data, "offset", int, w),
                   limit=_field(data, "limit", int, w))


@dataclass(frozen=True)
class VersionSummary:
    """One version in an action's history."""

    version: str
    content_hash: str
    kid: str
    alg: str
    published_at: datetime | None
    latest: bool
    key_status: str
    raw: dict = field(repr=False, compare=False)
    deprecation: Deprecation | None = None

    @classmethod
    def from_json(cls, data: Any) -> VersionSummary:
        w = "version summary"
        return cls(version=_field(data, "version", str, w), content_hash=_field(data, "content_hash", str, w),
                   kid=_field(data, "kid", str, w), alg=_field(data, "alg", str, w),
                   published_at=_time(data, "published_at", w), latest=bool(data.get("latest", False)),
                   key_status=_field(data, "key_status", str, w), raw=dict(data),
                   deprecation=Deprecation.from_json(data.get("deprecation")))


@dataclass(frozen=True)
class ActionDetail:
    """An action with all its versions (SemVer ascending)."""

    name: str
    namespace: str
    description: str
    latest_version: str | None
    versions: list[VersionSummary]
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> ActionDetail:
        w = "action"
        return cls(name=_field(data, "name", str, w), namespace=_field(data, "namespace", str, w),
                   description=_field(data, "description", str, w),
                   latest_version=_opt(data, "latest_version", str, w),
                   versions=[VersionSummary.from_json(v) for v in _field(data, "versions", list, w)],
                   raw=dict(data))

    @property
    def version_numbers(self) -> list[str]:
        return [v.version for v in self.versions]


@dataclass(frozen=True)
class Key:
    """A public key of the trust store."""

    kid: str
    alg: str
    public_key: str
    status: str
    role: str
    parent_kid: str | None
    scopes: list[str]
    fingerprint: str | None
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Key:
        w = "key"
        return cls(kid=_field(data, "kid", str, w), alg=_field(data, "alg", str, w),
                   public_key=_field(data, "public_key", str, w), status=_field(data, "status", str, w),
                   role=_opt(data, "role", str, w) or "", parent_kid=_opt(data, "parent_kid", str, w),
                   scopes=list(_opt(data, "scopes", list, w) or []), fingerprint=_opt(data, "fingerprint", str, w),
                   raw=dict(data))


@dataclass(frozen=True)
class KeyList:
    items: list[Key]
    total: int

    @classmethod
    def from_json(cls, data: Any) -> KeyList:
        return cls(items=[Key.from_json(k) for k in _field(data, "items", list, "key list")],
                   total=_field(data, "total", int, "key list"))


@dataclass(frozen=True)
class ServerVerifyResult(ServerVerification):
    """The registry's ``/verify`` answer: its verdict plus which bytes it judged."""

    name: str = ""
    version: str = ""
    content_hash: str = ""

    @classmethod
    def from_json(cls, data: Any) -> ServerVerifyResult:
        base = ServerVerification.from_json(data)
        w = "verify result"
        return cls(**base.__dict__, name=_field(data, "name", str, w), version=_field(data, "version", str, w),
                   content_hash=_field(data, "content_hash", str, w))


@dataclass(frozen=True)
class PublishResult:
    """``created`` is False when identical bytes were already published (the registry answered 200)."""

    record: VersionRecord
    created: bool


@dataclass(frozen=True)
class DeprecationState:
    """A version's deprecation now, and its history (deprecated, undeprecated, ...)."""

    name: str
    version: str
    deprecation: Deprecation | None
    history: list[dict]
    raw: dict = field(repr=False, compare=False)

    @property
    def deprecated(self) -> bool:
        return self.deprecation is not None

    @classmethod
    def from_json(cls, data: Any) -> DeprecationState:
        w = "deprecation state"
        deprecation = Deprecation.from_json(data.get("deprecation")) if data.get("deprecated") else None
        return cls(name=_field(data, "name", str, w), version=_field(data, "version", str, w),
                   deprecation=deprecation, history=list(_opt(data, "history", list, w) or []), raw=dict(data))


@dataclass(frozen=True)
class VersionDiff:
    """What changed between two versions' schemas, and whether it breaks callers."""

    name: str
    from_version: str
    to_version: str
    breaking: bool
    implied_bump: str | None
    compatibility: dict
    changes: list[dict]
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> VersionDiff:
        w = "diff"
        summary = _field(data, "summary", dict, w)
        return cls(name=_field(data, "name", str, w), from_version=_field(data, "from", str, w),
                   to_version=_field(data, "to", str, w), breaking=bool(summary.get("breaking")),
                   implied_bump=_opt(summary, "implied_bump", str, w),
                   compatibility=dict(_opt(data, "compatibility", dict, w) or {}),
                   changes=list(_field(data, "changes", list, w)), raw=dict(data))


@dataclass(frozen=True)
class CompatibilityGraph:
    """Every version of an action as a node (status, deprecation, declared compatibility) under a mode."""

    name: str
    mode: str | None
    latest_version: str | None
    nodes: list[dict]
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> CompatibilityGraph:
        w = "compatibility graph"
        return cls(name=_field(data, "name", str, w), mode=_opt(data, "mode", str, w),
                   latest_version=_opt(data, "latest_version", str, w),
                   nodes=list(_opt(data, "nodes", list, w) or []), raw=dict(data))


@dataclass(frozen=True)
class KeyChain:
    """A key's delegation chain up to its root (leaf first), and the registry's verdict on it."""

    kid: str
    valid: bool
    reason: str | None
    failed_kid: str | None
    keys: list[Key]
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> KeyChain:
        w = "key chain"
        return cls(kid=_field(data, "kid", str, w), valid=bool(data.get("valid")), reason=_opt(data, "reason", str, w),
                   failed_kid=_opt(data, "failed_kid", str, w),
                   keys=[Key.from_json(k) for k in _field(data, "keys", list, w)], raw=dict(data))


@dataclass(frozen=True)
class InclusionProof:
    """RFC 6962 audit path of one log entry in a tree of ``tree_size`` leaves (hashes hex)."""

    leaf_index: int
    leaf_hash: str
    tree_size: int
    root_hash: str
    hashes: list[str]
    entry: dict | None
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> InclusionProof:
        w = "inclusion proof"
        return cls(leaf_index=_field(data, "leaf_index", int, w), leaf_hash=_field(data, "leaf_hash", str, w),
                   tree_size=_field(data, "tree_size", int, w), root_hash=_field(data, "root_hash", str, w),
                   hashes=list(_field(data, "hashes", list, w)), entry=_opt(data, "entry", dict, w), raw=dict(data))


@dataclass(frozen=True)
class ConsistencyProof:
    """RFC 6962 proof that the tree of size ``first`` is a prefix of the tree of size ``second``."""

    first: int
    second: int
    first_root: str
    second_root: str
    hashes: list[str]
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> ConsistencyProof:
        w = "consistency proof"
        return cls(first=_field(data, "first", int, w), second=_field(data, "second", int, w),
                   first_root=_field(data, "first_root", str, w), second_root=_field(data, "second_root", str, w),
                   hashes=list(_field(data, "hashes", list, w)), raw=dict(data))


@dataclass(frozen=True)
class PinnedKey:
    """A public key the caller trusts out of band; verification then ignores the registry's key."""

    alg: str
    public_key: str  # base64url raw
    kid: str | None = None  # when set, the signature must name this kid

    @classmethod
    def from_text(cls, alg: str, text: str | bytes, kid: str | None = None) -> PinnedKey:
        """From PEM (SubjectPublicKeyInfo) or base64url raw text."""
        return cls(alg=alg, public_key=crypto.normalize_public_key(alg, text), kid=kid)


@dataclass(frozen=True)
class LocalVerification:
    """The client's own verdict on one version. ``reason`` is a machine-readable code when not verified.

    ``checks`` lists what was checked, in order; ``server_verified`` is what the registry claimed (or None),
    reported so a disagreement is visible, never used to decide.
    """

    verified: bool
    name: str
    version: str
    reason: str | None = None
    message: str = ""
    content_hash: str | None = None
    kid: str | None = None
    alg: str | None = None
    key_status: str | None = None
    key_source: str = "registry"
    server_verified: bool | None = None
    checks: list[str] = field(default_factory=list)
    document: dict | None = field(default=None, repr=False)
    deprecation: dict | None = None  # reported by the registry (not a validity question)

    @property
    def server_disagrees(self) -> bool:
        return self.server_verified is not None and self.server_verified != self.verified

    def as_dict(self) -> dict:
        return {"verified": self.verified, "name": self.name, "version": self.version, "reason": self.reason,
                "message": self.message, "content_hash": self.content_hash, "kid": self.kid, "alg": self.alg,
                "key_status": self.key_status, "key_source": self.key_source,
                "server_verified": self.server_verified, "checks": list(self.checks),
                "deprecation": self.deprecation}


# --- verification (pure: no I/O) ------------------------------------------------------------------

TRUSTED_KEY_STATUSES = ("active", "rotated")


class _Refused(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def verify_record(raw_record: bytes, *, name: str, version: str, key: Key | None,
                  pinned: PinnedKey | None = None, chain: Mapping[str, Any] | None = None) -> LocalVerification:
    """Verify the raw bytes of a version record against ``key`` (from the trust store) or ``pinned``.

    Nothing in the record is taken on trust: the document is re-parsed strictly, re-validated and
    re-canonicalised; the content hash is recomputed; the signature is checked over the recomputed bytes.
    """
    checks: list[str] = []
    facts: dict[str, Any] = {"name": name, "version": version, "key_source": "pinned" if pinned else "registry"}
    try:
        _verify_steps(raw_record, name=name, version=version, key=key, pinned=pinned, checks=checks, facts=facts)
        # A delegated key is only as good as its chain: without one it does not verify (a root needs none).
        if pinned is None and (chain is not None or (key is not None and key.parent_kid)):
            _verify_chain(raw_record, chain or {}, name=name, checks=checks, facts=facts)
    except _Refused as refused:
        return LocalVerification(verified=False, reason=refused.reason, message=refused.message, checks=checks,
                                 **facts)
    return LocalVerification(verified=True, message="signature verifies over the recomputed canonical bytes",
                             checks=checks, **facts)


def _verify_steps(raw: bytes, *, name: str, version: str, key: Key | None, pinned: PinnedKey | None,
                  checks: list[str], facts: dict[str, Any]) -> None:
    try:
        record = parse_json(raw, max_depth=RESPONSE_MAX_DEPTH)
    except RegistryError as exc:
        raise _Refused("malformed_record", f"the record is not strict JSON: {exc.message}") from None
    if not isinstance(record, dict) or not isinstance(record.get("action"), dict):
        raise _Refused("malformed_record", "the record has no action document")
    verification = record.get("verification")
    if isinstance(verification, dict) and isinstance(verification.get("verified"), bool):
        facts["server_verified"] = verification["verified"]
    if record.get("deprecated") and isinstance(record.get("deprecation"), dict):
        facts["deprecation"] = record["deprecation"]
    document = record["action"]
    facts["document"] = document
    checks.append("record parsed strictly (no duplicate keys, safe numbers)")

    if document.get("name") != name or document.get("version") != version:
        raise _Refused("record_mismatch", f"asked for {name}@{version}, the signed document is "
                                          f"{document.get('name')}@{document.get('version')}")
    try:
        validate_document(document)
    except RegistryError as exc:
        raise _Refused(exc.code, f"the document breaks the contract: {exc.message}") from None
    checks.append("document names the requested name@version and is valid")

    try:
        canonical = canonicalize(document)
    except RegistryError as exc:
        raise _Refused(exc.code, exc.message) from None
    digest = content_hash(canonical)
    facts["content_hash"] = digest
    if record.get("content_hash") != digest:
        raise _Refused("content_hash_mismatch", f"the registry says {str(record.get('content_hash'))[:80]}, "
                                                f"the document's canonical bytes hash to {digest}")
    checks.append("content hash recomputed from RFC 8785 bytes and matches")

    try:
        block = parse_signature(record.get("signature"))
    except RegistryError as exc:
        raise _Refused("invalid_signature_block", exc.message) from None
    facts["kid"], facts["alg"] = block.kid, block.alg

    if pinned is not None:
        if pinned.kid is not None and pinned.kid != block.kid:
            raise _Refused("kid_mismatch", f"signed by {block.kid}, the pinned key is {pinned.kid}")
        key_alg, key_b64 = pinned.alg, pinned.public_key
        facts["key_status"] = "pinned"
    else:
        if key is None:
            raise _Refused("unknown_kid", f"the trust store has no key {block.kid} ({block.alg})")
        if key.kid != block.kid:
            raise _Refused("kid_mismatch", f"signed by {block.kid}, the registry served key {key.kid}")
        key_alg, key_b64 = key.alg, key.public_key
        facts["key_status"] = key.status
        if key.status not in TRUSTED_KEY_STATUSES:
            reason = "key_revoked" if key.status == "revoked" else "key_not_trusted"
            raise _Refused(reason, f"key {key.kid} is {key.status}")
        if key.scopes and not any(s == "*" or in_namespace(name, s) for s in key.scopes):
            raise _Refused("key_out_of_scope", f"key {key.kid} may sign only under {', '.join(key.scopes)}")
        checks.append(f"key {key.kid} is {key.status} and its scope covers {name}")
    if key_alg != block.alg:
        raise _Refused("alg_mismatch", f"the signature says {block.alg}, the key is {key_alg}")
    try:
        crypto.verify(key_alg, key_b64, canonical, block.sig)
    except RegistryError as exc:
        raise _Refused(exc.code, exc.message) from None
    checks.append(f"{block.alg} signature by {block.kid} verifies over the recomputed bytes")


def _verify_chain(raw: bytes, chain: Mapping[str, Any], *, name: str, checks: list[str],
                  facts: dict[str, Any]) -> None:
    """Walk the signing key's delegation chain here: every certificate signature re-checked locally, the
    validity windows at publish time, scopes, and the statuses (revocations) the trust store reports."""
    from .chain import KeyInfo, parse_certificate, walk_chain

    record = parse_json(raw, max_depth=RESPONSE_MAX_DEPTH)
    published = _time(record, "published_at", "record")
    keys = chain.get("keys") if isinstance(chain, Mapping) else None
    if not isinstance(keys, list) or not keys or published is None:
        raise _Refused("chain_unavailable", "the registry did not return the key's chain")
    infos: dict[tuple[str, str], KeyInfo] = {}
    try:
        for i, item in enumerate(keys):
            parent = keys[i + 1] if i + 1 < len(keys) else None
            cert = None
            if item.get("certificate") is not None:
                cert = parse_certificate({"certificate": item["certificate"],
                                          "signature": item.get("certificate_signature")})
            infos[(item["kid"], item["alg"])] = KeyInfo(
                kid=item["kid"], alg=item["alg"], public_key=item["public_key"], status=item["status"],
                role=item["role"], scopes=tuple(item.get("scopes") or ()),
                parent=(parent["kid"], parent["alg"]) if parent else None, certificate=cert)
    except (KeyError, TypeError, RegistryError) as exc:
        raise _Refused("chain_malformed", f"the key chain is malformed: {exc}") from None
    leaf = infos.get((facts.get("kid"), facts.get("alg")))
    if leaf is None:
        raise _Refused("chain_mismatch", "the chain does not start at the signing key")
    result = walk_chain(leaf, lambda kid, alg: infos.get((kid, alg)), name=name, at=published)
    facts["key_status"] = result.key_status
    if not result.ok:
        raise _Refused(result.reason or "chain_invalid", result.message)
    checks.append("delegation chain " + " -> ".join(link["kid"] for link in result.chain)
                  + " verified (certificates, windows, scopes, no revocation)")


# --- calls and flows ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP request and the parser of its successful answer (``parse(body_bytes, status)``)."""

    method: str
    path: str
    parse: Callable[[bytes, int], T]
    params: Mapping[str, Any] | None = None
    body: bytes | None = None
    auth: bool = False


Flow = Generator[Call[Any], Any, T]


def _seg(value: str) -> str:
    """One path segment, percent-encoded (``+`` in SemVer build metadata, ``/`` in hostile input)."""
    return quote(str(value), safe=":@")


def _json_parser(model: Callable[[Any], T]) -> Callable[[bytes, int], T]:
    def parse(body: bytes, status: int) -> T:
        return model(_parse_body(body))
    return parse


def _parse_body(body: bytes) -> Any:
    try:
        return parse_json(body, max_depth=RESPONSE_MAX_DEPTH)
    except RegistryError as exc:
        raise InvalidResponseError(f"the registry's answer is not strict JSON: {exc.message}") from None


def _raw(body: bytes, status: int) -> bytes:
    return body


def _json_body(value: Mapping[str, Any] | bytes | str) -> bytes:
    """A mapping is serialised; bytes and text are sent exactly as given (the server canonicalises)."""
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


class _ops:  # noqa: N801 - a namespace of flows, not a class to instantiate
    """One flow per operation of the REST API; both clients run exactly these."""

    @staticmethod
    def search(q: str | None = None, *, kid: str | None = None, namespace: str | None = None,
               offset: int = 0, limit: int = 50) -> Flow[ActionPage]:
        params = {"q": q, "kid": kid, "namespace": namespace, "offset": offset, "limit": limit}
        return (yield Call("GET", "/v1/actions", _json_parser(ActionPage.from_json),
                           params={k: v for k, v in params.items() if v is not None}))

    @staticmethod
    def get_action(name: str) -> Flow[ActionDetail]:
        return (yield Call("GET", f"/v1/actions/{_seg(name)}", _json_parser(ActionDetail.from_json)))

    @staticmethod
    def get_version(name: str, version: str) -> Flow[VersionRecord]:
        return (yield Call("GET", f"/v1/actions/{_seg(name)}/versions/{_seg(version)}",
                           _json_parser(VersionRecord.from_json)))

    @staticmethod
    def get_latest(name: str) -> Flow[VersionRecord]:
        detail = yield from _ops.get_action(name)
        if not detail.latest_version:
            raise NotFoundError(f"{name} has no released version", code="version_not_found", status=404,
                                suggestion=f"Versions of {name}: {', '.join(detail.version_numbers) or 'none'}.")
        return (yield from _ops.get_version(name, detail.latest_version))

    @staticmethod
    def get_by_hash(digest: str) -> Flow[VersionRecord]:
        return (yield Call("GET", f"/v1/actions/by-hash/{_seg(digest)}", _json_parser(VersionRecord.from_json)))

    @staticmethod
    def server_verify(name: str, version: str) -> Flow[ServerVerifyResult]:
        return (yield Call("GET", f"/v1/actions/{_seg(name)}/versions/{_seg(version)}/verify",
                           _json_parser(ServerVerifyResult.from_json)))

    @staticmethod
    def publish(envelope: Mapping[str, Any] | bytes | str) -> Flow[PublishResult]:
        body = _json_body(envelope)

        def parse(data: bytes, status: int) -> PublishResult:
            return PublishResult(record=VersionRecord.from_json(_parse_body(data)), created=status == 201)
        return (yield Call("POST", "/v1/actions", parse, body=body, auth=True))

    @staticmethod
    def list_keys(status: str | None = None) -> Flow[KeyList]:
        params = {"status": status} if status else None
        return (yield Call("GET", "/v1/keys", _json_parser(KeyList.from_json), params=params))

    @staticmethod
    def get_key(kid: str, alg: str | None = None) -> Flow[Key]:
        params = {"alg": alg} if alg else None
        return (yield Call("GET", f"/v1/keys/{_seg(kid)}", _json_parser(Key.from_json), params=params))

    @staticmethod
    def get_key_chain(kid: str, alg: str | None = None) -> Flow[KeyChain]:
        params = {"alg": alg} if alg else None
        return (yield Call("GET", f"/v1/keys/{_seg(kid)}/chain", _json_parser(KeyChain.from_json), params=params))

    @staticmethod
    def submit_delegation(envelope: Mapping[str, Any]) -> Flow[Key]:
        return (yield Call("POST", "/v1/keys", _json_parser(Key.from_json), body=_json_body(envelope), auth=True))

    @staticmethod
    def rotate_key(old_kid: str, certificate: Mapping[str, Any]) -> Flow[Key]:
        body = _json_body({"old_kid": old_kid, "certificate": certificate})
        return (yield Call("POST", "/v1/keys/rotate", _json_parser(Key.from_json), body=body, auth=True))

    @staticmethod
    def revoke_key(kid: str, envelope: Mapping[str, Any]) -> Flow[Key]:
        return (yield Call("POST", f"/v1/keys/{_seg(kid)}/revoke", _json_parser(Key.from_json),
                           body=_json_body(envelope), auth=True))

    @staticmethod
    def list_revocations() -> Flow[dict]:
        return (yield Call("GET", "/v1/revocations", _json_parser(dict)))

    @staticmethod
    def get_deprecation(name: str, version: str) -> Flow[DeprecationState]:
        return (yield Call("GET", f"/v1/actions/{_seg(name)}/versions/{_seg(version)}/deprecation",
                           _json_parser(DeprecationState.from_json)))

    @staticmethod
    def deprecate(name: str, version: str, *, reason: str, successor: str | None = None) -> Flow[DeprecationState]:
        body = _json_body({"reason": reason, "successor": successor})
        return (yield Call("POST", f"/v1/actions/{_seg(name)}/versions/{_seg(version)}/deprecate",
                           _json_parser(DeprecationState.from_json), body=body, auth=True))

    @staticmethod
    def undeprecate(name: str, version: str, *, reason: str) -> Flow[DeprecationState]:
        return (yield Call("POST", f"/v1/actions/{_seg(name)}/versions/{_seg(version)}/undeprecate",
                           _json_parser(DeprecationState.from_json), body=_json_body({"reason": reason}), auth=True))

    @staticmethod
    def diff(name: str, from_version: str, to_version: str) -> Flow[VersionDiff]:
        return (yield Call("GET", f"/v1/actions/{_seg(name)}/diff", _json_parser(VersionDiff.from_json),
                           params={"from": from_version, "to": to_version}))

    @staticmethod
    def compatibility(name: str) -> Flow[CompatibilityGraph]:
        return (yield Call("GET", f"/v1/actions/{_seg(name)}/compatibility",
                           _json_parser(CompatibilityGraph.from_json), params={"format": "json"}))

    @staticmethod
    def get_log_key() -> Flow[dict]:
        return (yield Call("GET", "/v1/log/key", _json_parser(dict)))

    @staticmethod
    def get_log_checkpoint() -> Flow[str]:
        return (yield Call("GET", "/v1/log/checkpoint", lambda body, status: body.decode("utf-8")))

    @staticmethod
    def get_inclusion_proof(*, tree_size: int | None = None, leaf_hash: str | None = None,
                            subject: str | None = None, kind: str | None = None) -> Flow[InclusionProof]:
        params = {"tree_size": tree_size, "leaf_hash": leaf_hash, "subject": subject, "kind": kind}
        return (yield Call("GET", "/v1/log/proof/inclusion", _json_parser(InclusionProof.from_json),
                           params={k: v for k, v in params.items() if v is not None}))

    @staticmethod
    def get_consistency_proof(first: int, second: int) -> Flow[ConsistencyProof]:
        return (yield Call("GET", "/v1/log/proof/consistency", _json_parser(ConsistencyProof.from_json),
                           params={"first": first, "second": second}))

    @staticmethod
    def get_log_entries(start: int, end: int) -> Flow[dict]:
        return (yield Call("GET", "/v1/log/entries", _json_parser(dict), params={"start": start, "end": end}))

    @staticmethod
    def openapi() -> Flow[dict]:
        return (yield Call("GET", "/v1/openapi.json", _json_parser(dict)))

    @staticmethod
    def verify(name: str, version: str | None = None, *, pinned: PinnedKey | None = None
               ) -> Flow[LocalVerification]:
        if version is None:
            detail = yield from _ops.get_action(name)
            if not detail.latest_version:
                return LocalVerification(verified=False, name=name, version="", reason="version_not_found",
                                         message=f"{name} has no released version")
            version = detail.latest_version
        raw = yield Call("GET", f"/v1/actions/{_seg(name)}/versions/{_seg(version)}", _raw)
        key: Key | None = None
        if pinned is None:
            kid, alg = _signature_of(raw)
            if kid is not None:
                try:
                    key = yield from _ops.get_key(kid, alg)
                except NotFoundError:
                    key = None  # verify_record reports unknown_kid
                except InvalidResponseError:
                    key = None
        chain = None
        if key is not None:
            try:
                chain = (yield from _ops.get_key_chain(key.kid, key.alg)).raw
            except (NotFoundError, InvalidResponseError):
                chain = None  # verify_record refuses a delegated key without its chain
        return verify_record(raw, name=name, version=version, key=key, pinned=pinned, chain=chain)


def _signature_of(raw: bytes) -> tuple[str | None, str | None]:
    """kid and alg as the record claims them, only to know which key to fetch (checked later)."""
    try:
        sig = json.loads(raw).get("signature") or {}
    except (ValueError, AttributeError):
        return None, None
    kid, alg = sig.get("kid"), sig.get("alg")
    if not isinstance(kid, str) or not kid or alg not in crypto.ALGORITHMS:
        return None, None
    return kid, alg


# --- transport (shared pieces) --------------------------------------------------------------------

_ERRORS_BY_STATUS: dict[int, type[ApiError]] = {401: AuthError, 403: AuthError, 404: NotFoundError,
                                                409: ConflictError}


def _api_error(response: httpx.Response) -> ApiError:
    status = response.status_code
    cls = _ERRORS_BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    try:
        body = json.loads(response.content)
        err = body["error"]
        code, message = str(err["code"]), str(err["message"])
        suggestion = str(err.get("suggestion") or "")
        details = err.get("details") if isinstance(err.get("details"), dict) else None
    except (ValueError, KeyError, TypeError):
        code, message, suggestion, details = f"http_{status}", f"HTTP {status} {response.reason_phrase}", "", None
    return cls(message, code=code, suggestion=suggestion, status=status, details=details)


def _retry_after(response: httpx.Response | None) -> float:
    try:
        return float(response.headers.get("retry-after", 0)) if response is not None else 0.0
    except ValueError:
        return 0.0


def _resolve_url(base_url: str | None) -> str:
    url = (base_url or os.environ.get(ENV_URL) or DEFAULT_URL).strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    if not url.startswith(("http://", "https://")):
        raise RegistryError(f"registry URL {url!r} must start with http:// or https://", code="invalid_url",
                            suggestion=f"Pass --registry http://host:port or set {ENV_URL}.")
    return url


class _BaseClient:
    def __init__(self, base_url: str | None, api_key: str | None, retry: RetryPolicy | None,
                 seed: int | None) -> None:
        self.base_url = _resolve_url(base_url)
        self.api_key = api_key if api_key is not None else (os.environ.get(ENV_API_KEY) or None)
        self.retry = retry or RetryPolicy()
        self._rng = random.Random(seed)  # noqa: S311 - jitter, not security

    def _request_args(self, call: Call[Any]) -> dict[str, Any]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        if call.auth:
            if not self.api_key:
                raise AuthError("this operation needs an API key", code="missing_api_key", status=401,
                                suggestion=f"Pass --api-key or set {ENV_API_KEY}; operators create keys with "
                                           "`manage.py create_api_key`.")
            headers["Authorization"] = f"Bearer {self.api_key}"
        return {"method": call.method, "url": self.base_url + call.path, "params": call.params,
                "content": call.body, "headers": headers}

    def _outcome(self, call: Call[T], response: httpx.Response) -> T:
        if response.status_code >= 400:
            raise _api_error(response)
        return call.parse(response.content, response.status_code)

    def _network_error(self, call: Call[Any], exc: httpx.HTTPError) -> NetworkError:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        return NetworkError(f"{call.method} {self.base_url}{call.path} {kind}: {exc.__class__.__name__} {exc}"[:300],
                            details={"url": self.base_url})


def _http_client_kwargs(timeout: float) -> dict[str, Any]:
    return {"timeout": httpx.Timeout(timeout), "follow_redirects": False}


class RegistryClient(_BaseClient):
    """Blocking client. ``base_url``/``api_key`` default to ``ACTION_REGISTRY_URL``/``ACTION_REGISTRY_API_KEY``.

    Use as a context manager (or call ``close()``) to release connections.
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None,
                 http_client: httpx.Client | None = None, seed: int | None = None) -> None:
        super().__init__(base_url, api_key, retry, seed)
        self._http = http_client or httpx.Client(**_http_client_kwargs(timeout))
        self._owns_http = http_client is None

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _execute(self, call: Call[T]) -> T:
        args = self._request_args(call)
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = self._http.request(**args)
                if response.status_code < 500:
                    return self._outcome(call, response)
                failure: RegistryError = _api_error(response)
            except httpx.HTTPError as exc:
                failure = self._network_error(call, exc)
            if attempt >= self.retry.max_retries:
                raise failure
            time.sleep(max(self.retry.delay(attempt, self._rng), min(_retry_after(response), self.retry.max_backoff)))
            attempt += 1

    def _drive(self, flow: Flow[T]) -> T:
        try:
            call = next(flow)
            while True:
                try:
                    result = self._execute(call)
                except RegistryError as exc:
                    call = flow.throw(exc)
                else:
                    call = flow.send(result)
        except StopIteration as stop:
            return stop.value

    # -- operations (one line each; the logic is in _ops) --
    def search(self, q: str | None = None, *, kid: str | None = None, namespace: str | None = None,
               offset: int = 0, limit: int = 50) -> ActionPage:
        """Discover actions: full text over names and descriptions when ``q`` is given, else by name."""
        return self._drive(_ops.search(q, kid=kid, namespace=namespace, offset=offset, limit=limit))

    def get_action(self, name: str) -> ActionDetail:
        """An action and all its versions."""
        return self._drive(_ops.get_action(name))

    def get_version(self, name: str, version: str) -> VersionRecord:
        """One version's full record."""
        return self._drive(_ops.get_version(name, version))

    def get_latest(self, name: str) -> VersionRecord:
        """The latest release's full record."""
        return self._drive(_ops.get_latest(name))

    def get_by_hash(self, digest: str) -> VersionRecord:
        """A record by ``sha256:<hex>`` content hash."""
        return self._drive(_ops.get_by_hash(digest))

    def server_verify(self, name: str, version: str) -> ServerVerifyResult:
        """The registry's own verdict (for display; ``verify`` decides locally)."""
        return self._drive(_ops.server_verify(name, version))

    def publish(self, envelope: Mapping[str, Any] | bytes | str) -> PublishResult:
        """Publish a signed envelope (needs an API key)."""
        return self._drive(_ops.publish(envelope))

    def list_keys(self, status: str | None = None) -> KeyList:
        """The public trust store."""
        return self._drive(_ops.list_keys(status))

    def get_key(self, kid: str, alg: str | None = None) -> Key:
        """One public key."""
        return self._drive(_ops.get_key(kid, alg))

    def get_key_chain(self, kid: str, alg: str | None = None) -> KeyChain:
        """A key's delegation chain up to its root, with the registry's verdict (``verify`` re-checks it)."""
        return self._drive(_ops.get_key_chain(kid, alg))

    def submit_delegation(self, envelope: Mapping[str, Any]) -> Key:
        """Submit a delegation certificate ``{certificate, signature}`` (pending until reviewed)."""
        return self._drive(_ops.submit_delegation(envelope))

    def rotate_key(self, old_kid: str, certificate: Mapping[str, Any]) -> Key:
        """Replace ``old_kid`` with the key a certificate introduces."""
        return self._drive(_ops.rotate_key(old_kid, certificate))

    def revoke_key(self, kid: str, envelope: Mapping[str, Any]) -> Key:
        """Revoke a key with a ``{revocation, signature}`` request signed higher up its chain."""
        return self._drive(_ops.revoke_key(kid, envelope))

    def list_revocations(self) -> dict:
        """The signed revocation list."""
        return self._drive(_ops.list_revocations())

    def get_deprecation(self, name: str, version: str) -> DeprecationState:
        """Whether a version is deprecated, why, its successor, and the history."""
        return self._drive(_ops.get_deprecation(name, version))

    def deprecate(self, name: str, version: str, *, reason: str, successor: str | None = None
                  ) -> DeprecationState:
        """Deprecate a version (needs an API key for its namespace); it stays fetchable."""
        return self._drive(_ops.deprecate(name, version, reason=reason, successor=successor))

    def undeprecate(self, name: str, version: str, *, reason: str) -> DeprecationState:
        """Lift a deprecation."""
        return self._drive(_ops.undeprecate(name, version, reason=reason))

    def diff(self, name: str, from_version: str, to_version: str) -> VersionDiff:
        """Schema changes between two versions, classified breaking or not."""
        return self._drive(_ops.diff(name, from_version, to_version))

    def compatibility(self, name: str) -> CompatibilityGraph:
        """The action's compatibility graph (JSON form)."""
        return self._drive(_ops.compatibility(name))

    def get_log_key(self) -> dict:
        """The transparency log's public key (name, origin, verifier key)."""
        return self._drive(_ops.get_log_key())

    def get_log_checkpoint(self) -> str:
        """The latest signed checkpoint (signed-note text)."""
        return self._drive(_ops.get_log_checkpoint())

    def get_inclusion_proof(self, *, tree_size: int | None = None, leaf_hash: str | None = None,
                            subject: str | None = None, kind: str | None = None) -> InclusionProof:
        """Inclusion proof of a log entry (by leaf hash, or by subject such as ``name@version``)."""
        return self._drive(_ops.get_inclusion_proof(tree_size=tree_size, leaf_hash=leaf_hash, subject=subject,
                                                    kind=kind))

    def get_consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        """Proof that the log of size ``first`` is a prefix of the log of size ``second``."""
        return self._drive(_ops.get_consistency_proof(first, second))

    def get_log_entries(self, start: int, end: int) -> dict:
        """Log entries ``[start, end)``."""
        return self._drive(_ops.get_log_entries(start, end))

    def openapi(self) -> dict:
        """The registry's OpenAPI document."""
        return self._drive(_ops.openapi())

    def verify(self, name: str, version: str | None = None, *, pinned: PinnedKey | None = None
               ) -> LocalVerification:
        """Fetch a version (latest when ``version`` is None) and its key, and verify locally."""
        return self._drive(_ops.verify(name, version, pinned=pinned))


class AsyncRegistryClient(_BaseClient):
    """The same operations as ``RegistryClient``, awaitable (``async with AsyncRegistryClient() as c``)."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None,
                 http_client: httpx.AsyncClient | None = None, seed: int | None = None) -> None:
        super().__init__(base_url, api_key, retry, seed)
        self._http = http_client or httpx.AsyncClient(**_http_client_kwargs(timeout))
        self._owns_http = http_client is None

    async def __aenter__(self) -> AsyncRegistryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _execute(self, call: Call[T]) -> T:
        args = self._request_args(call)
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = await self._http.request(**args)
                if response.status_code < 500:
                    return self._outcome(call, response)
                failure: RegistryError = _api_error(response)
            except httpx.HTTPError as exc:
                failure = self._network_error(call, exc)
            if attempt >= self.retry.max_retries:
                raise failure
            await anyio.sleep(max(self.retry.delay(attempt, self._rng),
                                  min(_retry_after(response), self.retry.max_backoff)))
            attempt += 1

    async def _drive(self, flow: Flow[T]) -> T:
        try:
            call = next(flow)
            while True:
                try:
                    result = await self._execute(call)
                except RegistryError as exc:
                    call = flow.throw(exc)
                else:
                    call = flow.send(result)
        except StopIteration as stop:
            return stop.value

    async def search(self, q: str | None = None, *, kid: str | None = None, namespace: str | None = None,
                     offset: int = 0, limit: int = 50) -> ActionPage:
        """Discover actions: full text over names and descriptions when ``q`` is given, else by name."""
        return await self._drive(_ops.search(q, kid=kid, namespace=namespace, offset=offset, limit=limit))

    async def get_action(self, name: str) -> ActionDetail:
        """An action and all its versions."""
        return await self._drive(_ops.get_action(name))

    async def get_version(self, name: str, version: str) -> VersionRecord:
        """One version's full record."""
        return await self._drive(_ops.get_version(name, version))

    async def get_latest(self, name: str) -> VersionRecord:
        """The latest release's full record."""
        return await self._drive(_ops.get_latest(name))

    async def get_by_hash(self, digest: str) -> VersionRecord:
        """A record by ``sha256:<hex>`` content hash."""
        return await self._drive(_ops.get_by_hash(digest))

    async def server_verify(self, name: str, version: str) -> ServerVerifyResult:
        """The registry's own verdict (for display; ``verify`` decides locally)."""
        return await self._drive(_ops.server_verify(name, version))

    async def publish(self, envelope: Mapping[str, Any] | bytes | str) -> PublishResult:
        """Publish a signed envelope (needs an API key)."""
        return await self._drive(_ops.publish(envelope))

    async def list_keys(self, status: str | None = None) -> KeyList:
        """The public trust store."""
        return await self._drive(_ops.list_keys(status))

    async def get_key(self, kid: str, alg: str | None = None) -> Key:
        """One public key."""
        return await self._drive(_ops.get_key(kid, alg))

    async def get_key_chain(self, kid: str, alg: str | None = None) -> KeyChain:
        """A key's delegation chain up to its root, with the registry's verdict (``verify`` re-checks it)."""
        return await self._drive(_ops.get_key_chain(kid, alg))

    async def submit_delegation(self, envelope: Mapping[str, Any]) -> Key:
        """Submit a delegation certificate ``{certificate, signature}`` (pending until reviewed)."""
        return await self._drive(_ops.submit_delegation(envelope))

    async def rotate_key(self, old_kid: str, certificate: Mapping[str, Any]) -> Key:
        """Replace ``old_kid`` with the key a certificate introduces."""
        return await self._drive(_ops.rotate_key(old_kid, certificate))

    async def revoke_key(self, kid: str, envelope: Mapping[str, Any]) -> Key:
        """Revoke a key with a ``{revocation, signature}`` request signed higher up its chain."""
        return await self._drive(_ops.revoke_key(kid, envelope))

    async def list_revocations(self) -> dict:
        """The signed revocation list."""
        return await self._drive(_ops.list_revocations())

    async def get_deprecation(self, name: str, version: str) -> DeprecationState:
        """Whether a version is deprecated, why, its successor, and the history."""
        return await self._drive(_ops.get_deprecation(name, version))

    async def deprecate(self, name: str, version: str, *, reason: str, successor: str | None = None
                        ) -> DeprecationState:
        """Deprecate a version (needs an API key for its namespace); it stays fetchable."""
        return await self._drive(_ops.deprecate(name, version, reason=reason, successor=successor))

    async def undeprecate(self, name: str, version: str, *, reason: str) -> DeprecationState:
        """Lift a deprecation."""
        return await self._drive(_ops.undeprecate(name, version, reason=reason))

    async def diff(self, name: str, from_version: str, to_version: str) -> VersionDiff:
        """Schema changes between two versions, classified breaking or not."""
        return await self._drive(_ops.diff(name, from_version, to_version))

    async def compatibility(self, name: str) -> CompatibilityGraph:
        """The action's compatibility graph (JSON form)."""
        return await self._drive(_ops.compatibility(name))

    async def get_log_key(self) -> dict:
        """The transparency log's public key (name, origin, verifier key)."""
        return await self._drive(_ops.get_log_key())

    async def get_log_checkpoint(self) -> str:
        """The latest signed checkpoint (signed-note text)."""
        return await self._drive(_ops.get_log_checkpoint())

    async def get_inclusion_proof(self, *, tree_size: int | None = None, leaf_hash: str | None = None,
                            subject: str | None = None, kind: str | None = None) -> InclusionProof:
        """Inclusion proof of a log entry (by leaf hash, or by subject such as ``name@version``)."""
        return await self._drive(_ops.get_inclusion_proof(tree_size=tree_size, leaf_hash=leaf_hash, subject=subject,
                                                    kind=kind))

    async def get_consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        """Proof that the log of size ``first`` is a prefix of the log of size ``second``."""
        return await self._drive(_ops.get_consistency_proof(first, second))

    async def get_log_entries(self, start: int, end: int) -> dict:
        """Log entries ``[start, end)``."""
        return await self._drive(_ops.get_log_entries(start, end))

    async def openapi(self) -> dict:
        """The registry's OpenAPI document."""
        return await self._drive(_ops.openapi())

    async def verify(self, name: str, version: str | None = None, *, pinned: PinnedKey | None = None
                     ) -> LocalVerification:
        """Fetch a version (latest when ``version`` is None) and its key, and verify locally."""
        return await self._drive(_ops.verify(name, version, pinned=pinned))
