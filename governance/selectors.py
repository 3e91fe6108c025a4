"""Reads of the trust store and API keys; the registry reads governance only through these."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import QuerySet, Subquery

from action_registry.chain import ChainResult, KeyInfo, parse_certificate, walk_chain
from action_registry.errors import RegistryError
from core.exceptions import NotFound
from core.prepared import PreparedQuery, PreparedSQL
from governance.choices import ClaimStatus, KeyStatus
from governance.models import ApiKey, Namespace, Revocation, SigningKey, TrustState


def signing_key_list(*, status: str | None = None) -> QuerySet[SigningKey]:
    qs = SigningKey.objects.select_related("parent").order_by("kid", "alg")
    if status:
        qs = qs.filter(status=status)
    return qs


def signing_keys_by_kid(*, kid: str) -> list[SigningKey]:
    return list(SigningKey.objects.select_related("parent").filter(kid=kid).order_by("alg"))


def signing_key_get(*, kid: str, alg: str | None = None) -> SigningKey:
    keys = signing_keys_by_kid(kid=kid)
    if alg:
        keys = [k for k in keys if k.alg == alg]
    if not keys:
        raise NotFound(f"no key with kid {kid!r}" + (f" and alg {alg}" if alg else ""), code="key_not_found",
                       suggestion="List the trust store with GET /v1/keys.")
    if len(keys) > 1:
        raise NotFound(f"kid {kid!r} names keys of several algorithms", code="ambiguous_kid",
                       suggestion="Add ?alg=Ed25519 or ?alg=ES256.")
    return keys[0]


def trust_state_version() -> int:
    row = TrustState.objects.filter(pk=1).values_list("version", flat=True).first()
    return row or 0


# Every authenticated request runs this: compiled once per process, prepared once per connection. The trust
# state comes along (two primary-key subqueries): a publish needs it next, and this saves its round trip.
_api_key_by_prefix = PreparedQuery(ApiKey, lambda prefix: ApiKey.objects.filter(prefix=prefix).order_by().annotate(
    trust_version=Subquery(TrustState.objects.filter(pk=1).values("version")[:1]),
    trust_changed_at=Subquery(TrustState.objects.filter(pk=1).values("changed_at")[:1])))


def api_key_by_prefix(*, prefix: str) -> ApiKey | None:
    """The key with that prefix (unique), carrying ``trust_state``: the trust state read in the same statement,
    for ``trust_snapshot(state=...)`` later in the same request."""
    found = _api_key_by_prefix(prefix=prefix)
    if not found:
        return None
    key = found[0]
    key.trust_state = (key.trust_version or 0, key.trust_changed_at)
    return key


def api_key_list() -> QuerySet[ApiKey]:
    return ApiKey.objects.order_by("name")


# --- the trust snapshot: every key as chain.KeyInfo, rebuilt only when the trust state changes ---------

@dataclass(frozen=True)
class TrustSnapshot:
    version: int
    keys: dict[tuple[str, str], KeyInfo]
    models: dict[tuple[str, str], int]  # (kid, alg) -> SigningKey.pk
    changed_at: datetime | None = None  # TrustState.changed_at: with version, what caches key on

    @property
    def stamp(self) -> tuple:
        return (self.version, self.changed_at)

    def get(self, kid: str, alg: str) -> KeyInfo | None:
        return self.keys.get((kid, alg))

    def by_kid(self, kid: str) -> list[KeyInfo]:
        return [k for (k_kid, _), k in self.keys.items() if k_kid == kid]


_snapshot_cache: dict[str, TrustSnapshot] = {}


def _key_info(row: SigningKey, by_pk: dict[int, SigningKey]) -> KeyInfo:
    cert = None
    if row.certificate is not None and row.certificate_signature is not None:
        try:
            cert = parse_certificate({"certificate": row.certificate, "signature": row.certificate_signature})
        except RegistryError:
            cert = None  # the walk reports certificate_missing for this key
    parent = by_pk.get(row.parent_id) if row.parent_id else None
    return KeyInfo(kid=row.kid, alg=row.alg, public_key=row.public_key, status=row.status, role=row.role,
                   scopes=tuple(row.scopes or ()), parent=(parent.kid, parent.alg) if parent else None,
                   certificate=cert, revoked_at=row.revoked_at, rotated_at=row.rotated_at)


_TRUST_STATE_SQL = PreparedSQL(
    TrustState, lambda: f"SELECT version, changed_at FROM {TrustState._meta.db_table} WHERE id = 1")  # noqa: S608


def trust_state_row() -> tuple | None:
    """(version, changed_at) in plain SQL on PostgreSQL: this runs on every fetch, verify and publish, and the
    ORM's compilation of it cost five times the query. Elsewhere through the ORM, whose converters make the time
    aware as everywhere else (SQLite's raw rows carry it naive)."""
    if connection.vendor != "postgresql":
        return TrustState.objects.filter(pk=1).values_list("version", "changed_at").first()
    rows = _TRUST_STATE_SQL()
    return rows[0] if rows else None


def trust_snapshot(state: tuple[int, datetime | None] | None = None) -> TrustSnapshot:
    """All keys, cached per process and per TrustState (one small query when nothing changed). ``state``:
    the (version, changed_at) this request already read (``api_key_by_prefix`` brings it), instead of the query.

    The cache key includes the row's change time as well as its counter, so a rolled-back transaction
    that reused a counter value (tests do this constantly) cannot serve another state's keys."""
    row = state if state is not None else (trust_state_row() or (0, None))
    version = row[0]
    cached = _snapshot_cache.get("current")
    if cached is not None and cached.version == version and _snapshot_cache.get("stamp") == row[1]:
        return cached
    rows = list(SigningKey.objects.all())
    by_pk = {row.pk: row for row in rows}
    snapshot = TrustSnapshot(version=version,
                             keys={(r.kid, r.alg): _key_info(r, by_pk) for r in rows},
                             models={(r.kid, r.alg): r.pk for r in rows}, changed_at=row[1])
    _snapshot_cache["current"] = snapshot
    _snapshot_cache["stamp"] = row[1]  # type: ignore[assignment]
    return snapshot


_trust_cached: dict[str, tuple[tuple, object]] = {}


def trust_cached(snapshot: TrustSnapshot, name: str, build):
    """``build()``, cached per process for ``snapshot``'s trust state (version and change time).

    Only for reads whose every change bumps TrustState in the same transaction (signing keys, approved
    namespace claims, policies): the publish path needs them on every publish. The caller took ``snapshot``
    from ``trust_snapshot()`` in this request, so a change committed elsewhere is seen on the very next call;
    a value is read after the state it is stored under, so it is never older than that state."""
    hit = _trust_cached.get(name)
    if hit is not None and hit[0] == snapshot.stamp:
        return hit[1]
    value = build()
    _trust_cached[name] = (snapshot.stamp, value)
    return value


def chain_evaluate(*, kid: str, alg: str, name: str | None, at: datetime,
                   snapshot: TrustSnapshot | None = None) -> ChainResult:
    """Walk the delegation chain of ``(kid, alg)`` up to a trusted root as the trust store stands now."""
    snapshot = snapshot or trust_snapshot()
    leaf = snapshot.get(kid, alg)
    if leaf is None:
        result = ChainResult(ok=False, reason="unknown_kid", failed_kid=kid, message=f"no key {kid} ({alg})")
        return result
    return walk_chain(leaf, snapshot.get, name=name, at=at)


def namespace_owner_for(name: str) -> Namespace | None:
    """The most specific approved namespace claim covering ``name``, with its owners."""
    segments = name.split(".")
    prefixes = [".".join(segments[:i]) for i in range(len(segments), 0, -1)]
    claims = {n.prefix: n for n in Namespace.objects.filter(prefix__in=prefixes, status=ClaimStatus.APPROVED)
              .prefetch_related("owners")}
    for prefix in prefixes:
        if prefix in claims:
            return claims[prefix]
    return None


def namespace_owners_for(name: str, *, snapshot: TrustSnapshot) -> tuple[str, frozenset] | None:
    """``namespace_owner_for`` as ``(prefix, {(kid, alg) of its owners})``, from a per-trust-state cache of the
    approved claims (approving a claim bumps TrustState; owners are set only while a claim is pending)."""
    def build() -> dict[str, frozenset]:
        return {n.prefix: frozenset((k.kid, k.alg) for k in n.owners.all())
                for n in Namespace.objects.filter(status=ClaimStatus.APPROVED).prefetch_related("owners")}

    claims = trust_cached(snapshot, "approved_namespaces", build)
    segments = name.split(".")
    for prefix in (".".join(segments[:i]) for i in range(len(segments), 0, -1)):
        if prefix in claims:
            return prefix, claims[prefix]
    return None


def signing_key_model(snapshot: TrustSnapshot, pk: int) -> SigningKey:
    """The SigningKey row ``pk`` as of ``snapshot`` (a copy: callers may touch it), read once per trust state."""
    keys = trust_cached(snapshot, "signing_key_models", dict)
    key = keys.get(pk)
    if key is None:
        key = keys[pk] = SigningKey.objects.get(pk=pk)
    return _model_copy(key)


def _model_copy(obj):
    """``copy.copy`` of a model instance as Django's own pickling does it (``Model.__getstate__``: the
    instance dict, its own ModelState and relation cache), without the pickle protocol's detour through
    ``model_unpickle``, which cost a publish 60 us."""
    new = obj.__class__.__new__(obj.__class__)
    state = obj.__dict__.copy()
    state["_state"] = copy.copy(obj._state)
    state["_state"].fields_cache = obj._state.fields_cache.copy()
    new.__dict__.update(state)
    return new


def key_chain(*, key: SigningKey) -> list[SigningKey]:
    chain = [key]
    while chain[-1].parent_id and len(chain) < 10:
        chain.append(SigningKey.objects.get(pk=chain[-1].parent_id))
    return chain


def revocation_list() -> QuerySet[Revocation]:
    return Revocation.objects.select_related("key").order_by("revoked_at", "id")


def pending_delegations() -> QuerySet[SigningKey]:
    return SigningKey.objects.filter(status=KeyStatus.PENDING).select_related("parent").order_by("created_at")


def revocation_list_signed() -> dict:
    """The revocation list, signed by the registry's own (transparency-log) key."""
    from action_registry import crypto
    from action_registry.canonical import canonicalize
    from action_registry.chain import format_time, now
    from core.transparency import log_key_info, log_signer

    items = [{"kid": r.key.kid, "alg": r.key.alg, "reason": r.reason,
              "compromised_since": format_time(r.compromised_since) if r.compromised_since else None,
              "revoked_at": format_time(r.revoked_at)} for r in revocation_list()]
    info = log_key_info()
    body = {"issuer": info["name"], "issued_at": format_time(now()), "trust_state": trust_state_version(),
            "revocations": items}
    sig = crypto.sign(log_signer().key, canonicalize(body))
    return {"body": body, "signature": {"kid": info["name"], "alg": crypto.ED25519, "sig": sig}}
