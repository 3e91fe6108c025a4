"""Signed snapshot bundles of this registry: the online key, root metadata, and the export (a read)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Max, Q

from action_registry import crypto
from action_registry import snapshot as snap
from action_registry.canonical import canonicalize
from action_registry.document import check_namespace
from core.exceptions import DomainError
from core.models import Event
from governance.models import SigningKey
from registry.models import ActionVersion, CompatibilityPolicy


class SnapshotUnavailable(DomainError):
    code = "snapshot_root_missing"
    status = 503
    default_suggestion = ("An operator must sign the snapshot root metadata once: "
                          "`python manage.py snapshot root --root-key ROOT_KEY.pem`.")


def online_key() -> crypto.PrivateKey:
    """The registry's online snapshot key, created (Ed25519, 0600) on first use."""
    path = Path(settings.ACTION_REGISTRY_SNAPSHOT_KEY_FILE)
    try:
        return crypto.load_private_key(path.read_bytes())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        crypto.write_private_key(path, crypto.generate_private_key(crypto.ED25519))
    except FileExistsError:
        pass  # another process made it first
    return crypto.load_private_key(path.read_bytes())


def root_metadata_sign(*, root_key_files: list[Path], threshold: int = 1, expires_days: int = 365) -> dict:
    """Create or re-sign root metadata with the operator's offline root keys; its version grows by one."""
    path = Path(settings.ACTION_REGISTRY_SNAPSHOT_ROOT_FILE)
    previous = 0
    if path.exists():
        previous = json.loads(path.read_bytes())["signed"]["version"]
    keys = []
    for key_file in root_key_files:
        try:
            keys.append(crypto.load_private_key(Path(key_file).read_bytes()))
        except OSError as exc:
            raise DomainError(f"cannot read {key_file}: {exc.strerror}", code="file_error") from None
    data = snap.root_build(root_keys=keys, online_public_key=online_key(), version=previous + 1,
                           expires=datetime.now(UTC) + timedelta(days=expires_days), threshold=threshold)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    (path.parent / f"{previous + 1}.root.json").write_bytes(data)
    return {"path": str(path), "version": previous + 1,
            "root_keys": [crypto.public_key_b64(k) for k in keys], "threshold": threshold}


def root_metadata() -> bytes:
    path = Path(settings.ACTION_REGISTRY_SNAPSHOT_ROOT_FILE)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SnapshotUnavailable("this registry has no snapshot root metadata yet") from None


@dataclass(frozen=True)
class Bundle:
    data: bytes
    version: int
    actions: int


def snapshot_export(*, namespaces: list[str] | None = None, now: datetime | None = None) -> Bundle:
    """The signed bundle of the chosen namespaces (all when none), as of now."""
    namespaces = [check_namespace(ns) for ns in (namespaces or [])]
    now = now or datetime.now(UTC)
    root_json = root_metadata()
    version = Event.objects.aggregate(top=Max("id"))["top"] or 1
    entries = list(_entries(namespaces))
    hours = settings.ACTION_REGISTRY_SNAPSHOT_EXPIRY_HOURS
    expires = {role: now + timedelta(hours=hours[role]) for role in ("timestamp", "snapshot", "targets")}
    extras = {snap.KEYS_TARGET: canonicalize(_trust_store()), snap.POLICIES_TARGET: canonicalize(_policies())}
    data = snap.bundle_build(entries=entries, extras=extras, root_json=root_json, online_key=online_key(),
                             version=version, expires=expires, generated_at=now)
    return Bundle(data=data, version=version, actions=len(entries))


def _entries(namespaces: list[str]):
    qs = ActionVersion.objects.select_related("action", "blob", "mirror_origin").order_by("id")
    if namespaces:
        match = Q()
        for ns in namespaces:
            match |= Q(action__name=ns) | Q(action__name__startswith=ns + ".")
        qs = qs.filter(match)
    for v in qs.iterator(chunk_size=2000):
        origin = getattr(v, "mirror_origin", None)
        yield snap.Entry(name=v.action.name, version=v.version, canonical=bytes(v.blob.canonical),
                         signature={"kid": v.kid, "alg": v.alg, "sig": v.sig},
                         published_at=_iso(v.published_at),
                         origin={"registry": origin.registry, "fetched_at": _iso(origin.fetched_at)} if origin else None)


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _trust_store() -> dict:
    rows = list(SigningKey.objects.select_related("parent").order_by("kid", "alg"))
    keys = [{"kid": k.kid, "alg": k.alg, "public_key": k.public_key, "status": k.status, "role": k.role,
             "scopes": list(k.scopes or []), "parent_kid": k.parent.kid if k.parent_id else None,
             "parent_alg": k.parent.alg if k.parent_id else None, "certificate": k.certificate,
             "certificate_signature": k.certificate_signature, "revoked_at": _iso(k.revoked_at),
             "revocation_reason": k.revocation_reason or None} for k in rows]
    revocations = [{"kid": k["kid"], "alg": k["alg"], "revoked_at": k["revoked_at"], "reason": k["revocation_reason"]}
                   for k in keys if k["status"] == "revoked"]
    return {"keys": keys, "revocations": revocations}


def _policies() -> dict:
    return {"compatibility": [{"prefix": p.prefix, "mode": p.mode, "refuse_undeclared_breaks":
                               p.refuse_undeclared_breaks} for p in CompatibilityPolicy.objects.order_by("prefix")]}
