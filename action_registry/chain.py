"""Delegation certificates and chain walking: pure functions over data, shared by server, CLI and SDK.

A non-root key is introduced by a certificate ``{kid, alg, public_key, parent_kid, scopes, not_before,
not_after}`` whose RFC 8785 bytes are signed by the parent key. A chain is valid when every certificate's
signature checks out, its validity window holds at the time in question, every key's scopes lie within its
parent's and cover the action's name, the root is trusted, and no key in the chain is revoked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from . import crypto
from .canonical import canonicalize, check_value
from .document import check_kid, check_namespace, in_namespace
from .errors import DocumentError, SignatureError

CERT_FIELDS = ("kid", "alg", "public_key", "parent_kid", "scopes", "not_before", "not_after")
MAX_CHAIN_DEPTH = 8

# Key statuses (the server's governance.choices.KeyStatus uses the same strings).
ACTIVE, ROTATED, REVOKED, PENDING, REJECTED = "active", "rotated", "revoked", "pending", "rejected"


def format_time(value: datetime) -> str:
    """RFC 3339 UTC with a Z, second precision: the only time form certificates carry."""
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str, field_name: str) -> datetime:
    if not isinstance(value, str) or not value.endswith("Z"):
        raise DocumentError(f"{field_name} must be an RFC 3339 UTC time like 2026-01-01T00:00:00Z",
                            code="invalid_certificate")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise DocumentError(f"{field_name} {value!r} is not YYYY-MM-DDTHH:MM:SSZ", code="invalid_certificate") from None


def scope_covers(scopes: Iterable[str], name: str) -> bool:
    """An empty scope list means "everything" (roots only); otherwise a prefix must cover ``name``."""
    scopes = list(scopes)
    return not scopes or any(in_namespace(name, s) for s in scopes)


def scopes_within(child: Iterable[str], parent: Iterable[str]) -> bool:
    """Every child scope lies inside some parent scope (an unscoped parent allows anything)."""
    parent = list(parent)
    child = list(child)
    if not parent:
        return True
    if not child:
        return False  # an unscoped child of a scoped parent would widen it
    return all(any(in_namespace(c, p) for p in parent) for c in child)


@dataclass(frozen=True)
class Certificate:
    kid: str
    alg: str
    public_key: str
    parent_kid: str
    scopes: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    document: dict
    canonical: bytes
    signature: crypto.SignatureBlock

    @property
    def parent_alg(self) -> str:
        return self.signature.alg


def make_certificate(*, kid: str, alg: str, public_key: str, parent_kid: str, scopes: list[str],
                     not_before: datetime, not_after: datetime) -> dict:
    doc = {"kid": check_kid(kid), "alg": crypto.check_alg(alg),
           "public_key": crypto.normalize_public_key(alg, public_key), "parent_kid": check_kid(parent_kid),
           "scopes": sorted({check_namespace(s) for s in scopes}), "not_before": format_time(not_before),
           "not_after": format_time(not_after)}
    validate_certificate(doc)
    return doc


def validate_certificate(doc: object) -> dict:
    if not isinstance(doc, dict) or set(doc) != set(CERT_FIELDS):
        raise DocumentError(f"a certificate has exactly the fields {', '.join(CERT_FIELDS)}",
                            code="invalid_certificate",
                            suggestion="Produce it with `action-registry key delegate`.")
    check_value(doc)
    check_kid(doc["kid"])
    check_kid(doc["parent_kid"])
    crypto.check_alg(doc["alg"])
    if doc["kid"] == doc["parent_kid"]:
        raise DocumentError("a certificate cannot name its own key as parent", code="invalid_certificate")
    if not isinstance(doc["public_key"], str):
        raise DocumentError("public_key must be base64url text", code="invalid_certificate")
    crypto.normalize_public_key(doc["alg"], doc["public_key"])
    if not isinstance(doc["scopes"], list) or not doc["scopes"]:
        raise DocumentError("scopes must be a non-empty list of namespace prefixes", code="invalid_certificate",
                            suggestion="Delegate at least one namespace, e.g. --scope ssh.")
    for scope in doc["scopes"]:
        check_namespace(scope)
    start, end = parse_time(doc["not_before"], "not_before"), parse_time(doc["not_after"], "not_after")
    if end <= start:
        raise DocumentError("not_after must be later than not_before", code="invalid_certificate")
    return doc


def sign_certificate(doc: dict, parent_key: crypto.PrivateKey, parent_kid: str) -> dict:
    """The parent's signature over the certificate's canonical bytes, as an envelope."""
    validate_certificate(doc)
    if doc["parent_kid"] != parent_kid:
        raise DocumentError("the certificate names another parent", code="invalid_certificate")
    sig = crypto.sign(parent_key, canonicalize(doc))
    return {"certificate": doc, "signature": {"kid": parent_kid, "alg": crypto.private_key_alg(parent_key),
                                              "sig": sig}}


def parse_certificate(envelope: object) -> Certificate:
    """Shape and field checks (not the signature: that needs the parent's key)."""
    if not isinstance(envelope, dict) or set(envelope) != {"certificate", "signature"}:
        raise DocumentError('a certificate envelope is {"certificate": {...}, "signature": {kid, alg, sig}}',
                            code="invalid_certificate", suggestion="Use the file `action-registry key delegate` writes.")
    from .document import parse_signature

    doc = validate_certificate(envelope["certificate"])
    signature = parse_signature(envelope["signature"])
    if signature.kid != doc["parent_kid"]:
        raise DocumentError("the certificate must be signed by the parent it names", code="invalid_certificate")
    return Certificate(kid=doc["kid"], alg=doc["alg"], public_key=doc["public_key"], parent_kid=doc["parent_kid"],
                       scopes=tuple(doc["scopes"]), not_before=parse_time(doc["not_before"], "not_before"),
                       not_after=parse_time(doc["not_after"], "not_after"), document=doc,
                       canonical=canonicalize(doc), signature=signature)


@lru_cache(maxsize=16384)
def _cert_signature_ok(alg: str, public_key: str, canonical: bytes, sig: str) -> str | None:
    try:
        crypto.verify(alg, public_key, canonical, sig)
    except SignatureError as exc:
        return exc.code
    return None


def verify_certificate_signature(cert: Certificate, parent_alg: str, parent_public_key: str) -> None:
    if cert.signature.alg != parent_alg:
        raise SignatureError(f"certificate of {cert.kid} says alg {cert.signature.alg}, parent is {parent_alg}",
                             code="alg_mismatch")
    reason = _cert_signature_ok(parent_alg, parent_public_key, cert.canonical, cert.signature.sig)
    if reason:
        raise SignatureError(f"the certificate of {cert.kid} is not signed by {cert.parent_kid}", code=reason)


# --- chain walking --------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyInfo:
    """What the walk needs to know of one key (the server builds these from its trust store)."""

    kid: str
    alg: str
    public_key: str
    status: str
    role: str = "root"
    scopes: tuple[str, ...] = ()
    parent: tuple[str, str] | None = None  # (kid, alg) of the parent; None for a root
    certificate: Certificate | None = None
    revoked_at: datetime | None = None
    rotated_at: datetime | None = None


@dataclass
class ChainResult:
    ok: bool
    chain: list[dict] = field(default_factory=list)
    reason: str | None = None
    failed_kid: str | None = None
    message: str = ""

    @property
    def key_status(self) -> str:
        """``revoked`` if any key in the chain is; otherwise the leaf's own status."""
        statuses = [link["status"] for link in self.chain]
        if REVOKED in statuses:
            return REVOKED
        return statuses[0] if statuses else "unknown"


def walk_chain(leaf: KeyInfo, lookup: Callable[[str, str], KeyInfo | None], *, name: str | None,
               at: datetime) -> ChainResult:
    """Walk from ``leaf`` to a trusted root, checking every link; the first failure is reported."""
    result = ChainResult(ok=True)
    key: KeyInfo | None = leaf
    seen: set[tuple[str, str]] = set()
    child: KeyInfo | None = None
    while key is not None:
        result.chain.append({"kid": key.kid, "alg": key.alg, "status": key.status, "role": key.role})
        if (key.kid, key.alg) in seen or len(result.chain) > MAX_CHAIN_DEPTH:
            return _fail(result, key, "chain_loop", "the delegation chain loops or is too deep")
        seen.add((key.kid, key.alg))
        if key.status == REVOKED:
            return _fail(result, key, "key_revoked", f"key {key.kid} is revoked")
        if key.status not in (ACTIVE, ROTATED):
            return _fail(result, key, f"key_{key.status}", f"key {key.kid} is {key.status}")
        if child is not None and not scopes_within(child.scopes, key.scopes):
            return _fail(result, child, "scope_exceeds_parent",
                         f"{child.kid}'s scopes {list(child.scopes)} are not within {key.kid}'s {list(key.scopes)}")
        if name is not None and not scope_covers(key.scopes, name):
            return _fail(result, key, "scope_violation", f"key {key.kid} may not sign for {name} "
                                                         f"(scopes: {', '.join(key.scopes) or 'none'})")
        if key.parent is None:
            if key.role != "root":
                return _fail(result, key, "untrusted_root", f"{key.kid} has no parent and is not a root")
            return result
        cert = key.certificate
        if cert is None:
            return _fail(result, key, "certificate_missing", f"{key.kid} has no delegation certificate")
        if not (cert.not_before <= at <= cert.not_after):
            code = "certificate_not_yet_valid" if at < cert.not_before else "certificate_expired"
            return _fail(result, key, code, f"the certificate of {key.kid} is valid from "
                                            f"{format_time(cert.not_before)} to {format_time(cert.not_after)}")
        parent = lookup(*key.parent)
        if parent is None:
            return _fail(result, key, "parent_unknown", f"the parent {key.parent[0]} of {key.kid} is not trusted")
        if (cert.kid, cert.alg, cert.public_key) != (key.kid, key.alg, key.public_key):
            return _fail(result, key, "certificate_mismatch", f"the certificate does not describe {key.kid}")
        try:
            verify_certificate_signature(cert, parent.alg, parent.public_key)
        except SignatureError as exc:
            return _fail(result, key, "certificate_signature_invalid", exc.message)
        child, key = key, parent
    return result


def _fail(result: ChainResult, key: KeyInfo, reason: str, message: str) -> ChainResult:
    result.ok = False
    result.reason = reason
    result.failed_kid = key.kid
    result.message = message
    return result


def now() -> datetime:
    return datetime.now(UTC)
