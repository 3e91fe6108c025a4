"""Signed offline snapshots: a TUF repository in a tar, built with python-tuf and verified with no network.

Layout of a bundle (a POSIX tar, so any TUF client can be pointed at it once extracted)::

    metadata/root.json, metadata/<N>.root.json   root: signed by the offline root keys
    metadata/timestamp.json, snapshot.json       signed by the registry's online key
    metadata/targets.json                        top-level targets: registry/* files, delegations
    metadata/ns-<namespace>.json                 one delegated targets role per namespace
    targets/actions/<ns>/<name>@<version>.json   an action version's RFC 8785 canonical bytes
    targets/registry/keys.json                   trust store: keys, certificates, statuses, revocations
    targets/registry/policies.json               policies (compatibility, ...)

A target's sha256 is therefore the registry's content hash, and its ``custom`` field carries the publisher
signature block, so the TUF metadata signs for every entry and every entry's own signature is checked too.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import re
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import chain as chainlib
from . import crypto
from .canonical import parse_json
from .document import namespace_of
from .errors import RegistryError

SPEC_VERSION = "1.0.31"
TOP_ROLES = ("root", "timestamp", "snapshot", "targets")
ACTIONS = "actions"
KEYS_TARGET = "registry/keys.json"
POLICIES_TARGET = "registry/policies.json"
ENV_STATE_DIR = "ACTION_REGISTRY_STATE_DIR"
FULL, HASH = "full", "hash"
_CONTROL = re.compile(r"[\x00-\x1f]")
PARALLEL_MIN = 256  # below this many signatures a process pool costs more than it saves


class SnapshotError(RegistryError):
    """A bundle that must not be used: ``code`` says why (expired, rollback, signature, hash, ...)."""

    code = "snapshot_invalid"
    status = 422
    default_suggestion = "Fetch a fresh bundle from the registry (GET /v1/snapshot) and verify it again."


# --- keys and signatures in TUF form ------------------------------------------------------------------

def tuf_key_dict(key: crypto.PrivateKey | crypto.PublicKey) -> dict:
    """The TUF (securesystemslib) form of an Ed25519 public key; only Ed25519 signs snapshot metadata."""
    raw = crypto.b64url_decode(crypto.public_key_b64(key))
    if len(raw) != 32:  # an ES256 point has 65 bytes
        raise SnapshotError("snapshot metadata keys are Ed25519", code="unsupported_alg")
    return {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": raw.hex()}}


def tuf_keyid(key_dict: dict) -> str:
    """The TUF key id: SHA-256 of the key's canonical JSON."""
    return hashlib.sha256(_canonical(key_dict)).hexdigest()


def _canonical(value) -> bytes:
    """OLPC canonical JSON as TUF signs it. json.dumps gives the same bytes unless a string holds a control
    character (which it would escape): then the securesystemslib encoder, the reference, is used."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if _CONTROL.search(text):
        from securesystemslib.formats import encode_canonical

        return encode_canonical(value).encode("utf-8")
    return text.encode("utf-8")


def _sig_ok(key_dict: dict, message: bytes, sig_hex: str) -> bool:
    if key_dict.get("keytype") != "ed25519" or key_dict.get("scheme") != "ed25519":
        return False
    try:
        public = crypto.b64url_encode(bytes.fromhex(key_dict["keyval"]["public"]))
        crypto.verify(crypto.ED25519, public, message, crypto.b64url_encode(bytes.fromhex(sig_hex)))
    except (RegistryError, ValueError, KeyError, TypeError):
        return False
    return True


def sign_metadata(md, key: crypto.PrivateKey) -> None:
    """Add ``key``'s signature to a python-tuf Metadata object (signing goes through action_registry.crypto)."""
    from tuf.api.metadata import Signature
    from tuf.api.serialization.json import CanonicalJSONSerializer

    keyid = tuf_keyid(tuf_key_dict(key))
    message = CanonicalJSONSerializer().serialize(md.signed)
    md.signatures[keyid] = Signature(keyid, crypto.b64url_decode(crypto.sign(key, message)).hex())


def _expires(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(microsecond=0)


# --- building -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One action version to put in a bundle."""

    name: str
    version: str
    canonical: bytes
    signature: dict
    published_at: str
    origin: dict | None = None

    @property
    def path(self) -> str:
        return target_path(self.name, self.version)


def target_path(name: str, version: str) -> str:
    return f"{ACTIONS}/{namespace_of(name)}/{name}@{version}.json"


def role_for(namespace: str) -> str:
    return f"ns-{namespace}"


def root_build(*, root_keys: list[crypto.PrivateKey], online_public_key, version: int, expires: datetime,
               threshold: int = 1) -> bytes:
    """Root metadata: the root role is the given (offline) keys, the other roles the online key; signed by
    every root key. Returns the JSON bytes to keep next to the registry (and ship in every bundle)."""
    from tuf.api.metadata import Key, Metadata, Role, Root
    from tuf.api.serialization.json import JSONSerializer

    if threshold < 1 or threshold > len(root_keys):
        raise SnapshotError(f"threshold {threshold} needs at least that many root keys", code="invalid_threshold")
    keys, root_ids = {}, []
    for k in root_keys:
        kd = tuf_key_dict(k)
        keys[tuf_keyid(kd)] = Key.from_dict(tuf_keyid(kd), dict(kd))
        root_ids.append(tuf_keyid(kd))
    online = tuf_key_dict(online_public_key)
    online_id = tuf_keyid(online)
    keys[online_id] = Key.from_dict(online_id, dict(online))
    roles = {"root": Role(root_ids, threshold), **{r: Role([online_id], 1) for r in TOP_ROLES[1:]}}
    md = Metadata(Root(version=version, spec_version=SPEC_VERSION, expires=_expires(expires), keys=keys,
                       roles=roles, consistent_snapshot=False))
    for k in root_keys:
        sign_metadata(md, k)
    return JSONSerializer(compact=False).serialize(md)


def bundle_build(*, entries: Iterable[Entry], extras: dict[str, bytes], root_json: bytes,
                 online_key: crypto.PrivateKey, version: int, expires: dict[str, datetime],
                 generated_at: datetime) -> bytes:
    """Sign targets (one delegated role per namespace), snapshot and timestamp; return the tar bytes.

    ``expires`` maps timestamp / snapshot / targets to their expiry; ``version`` is the same for every
    online role and must only grow (the registry uses its event high-water mark).
    """
    from tuf.api.metadata import (
        DelegatedRole,
        Delegations,
        Key,
        Metadata,
        MetaFile,
        Snapshot,
        TargetFile,
        Targets,
        Timestamp,
    )
    from tuf.api.serialization.json import JSONSerializer

    online = tuf_key_dict(online_key)
    online_id = tuf_keyid(online)
    root = json.loads(root_json)
    if online_id not in root["signed"]["roles"]["targets"]["keyids"]:
        raise SnapshotError("the root metadata does not name this registry's online key",
                            code="snapshot_root_stale",
                            suggestion="Re-sign root with `manage.py snapshot root --root-key FILE`.")
    serializer = JSONSerializer(compact=True)
    files: dict[str, bytes] = {}
    by_ns: dict[str, dict[str, TargetFile]] = {}
    for entry in entries:
        custom = {"name": entry.name, "version": entry.version, "signature": entry.signature,
                  "published_at": entry.published_at}
        if entry.origin:
            custom["origin"] = entry.origin
        target = TargetFile(len(entry.canonical), {"sha256": hashlib.sha256(entry.canonical).hexdigest()},
                            entry.path, unrecognized_fields={"custom": custom})
        by_ns.setdefault(namespace_of(entry.name), {})[entry.path] = target
        files["targets/" + entry.path] = entry.canonical
    top_targets = {}
    for path, data in extras.items():
        top_targets[path] = TargetFile(len(data), {"sha256": hashlib.sha256(data).hexdigest()}, path)
        files["targets/" + path] = data
    delegations = Delegations(keys={online_id: Key.from_dict(online_id, dict(online))}, roles={
        role_for(ns): DelegatedRole(role_for(ns), [online_id], 1, True, paths=[f"{ACTIONS}/{ns}/*"])
        for ns in sorted(by_ns)})
    targets_md = Metadata(Targets(version=version, spec_version=SPEC_VERSION, expires=_expires(expires["targets"]),
                                  targets=top_targets, delegations=delegations))
    meta: dict[str, MetaFile] = {}
    signed_files = {"targets": targets_md}
    for ns in sorted(by_ns):
        signed_files[role_for(ns)] = Metadata(Targets(version=version, spec_version=SPEC_VERSION,
                                                      expires=_expires(expires["targets"]), targets=by_ns[ns]))
    for role, md in signed_files.items():
        sign_metadata(md, online_key)
        data = serializer.serialize(md)
        files[f"metadata/{role}.json"] = data
        meta[f"{role}.json"] = MetaFile(version, len(data), {"sha256": hashlib.sha256(data).hexdigest()})
    snapshot_md = Metadata(Snapshot(version=version, spec_version=SPEC_VERSION,
                                    expires=_expires(expires["snapshot"]), meta=meta))
    sign_metadata(snapshot_md, online_key)
    snapshot_bytes = serializer.serialize(snapshot_md)
    timestamp_md = Metadata(Timestamp(version=version, spec_version=SPEC_VERSION,
                                      expires=_expires(expires["timestamp"]),
                                      snapshot_meta=MetaFile(version, len(snapshot_bytes),
                                                             {"sha256": hashlib.sha256(snapshot_bytes).hexdigest()})))
    sign_metadata(timestamp_md, online_key)
    files["metadata/snapshot.json"] = snapshot_bytes
    files["metadata/timestamp.json"] = serializer.serialize(timestamp_md)
    files["metadata/root.json"] = root_json
    files[f"metadata/{root['signed']['version']}.root.json"] = root_json
    return tar_write(files, mtime=int(generated_at.timestamp()))


# --- the tar container ------------------------------------------------------------------------------------

def tar_write(files: dict[str, bytes], *, mtime: int) -> bytes:
    out = io.BytesIO()
    long_names = any(len(p.encode()) > 100 and len(p.rsplit("/", 1)[-1].encode()) > 100 or len(p.encode()) > 255
                     for p in files)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT if long_names else tarfile.USTAR_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(files[path]), mtime, 0o644
            tar.addfile(info, io.BytesIO(files[path]))
    return out.getvalue()


def tar_read(data: bytes) -> dict[str, bytes]:
    """Regular files of a tar by path. A plain ustar reader (about 3 us a member, where tarfile takes ~15);
    anything else (pax headers, GNU long names) goes to tarfile. Duplicate paths are refused."""
    files: dict[str, bytes] = {}
    pos, end = 0, len(data)
    while pos + 512 <= end:
        header = data[pos:pos + 512]
        if header[0] == 0:
            break
        kind = header[156:157]
        if kind not in (b"0", b"\0", b"5") or header[257:262] != b"ustar":
            return _tar_read_slow(data)
        stored = int(header[148:156].split(b"\0", 1)[0].strip() or b"0", 8)
        if stored != sum(header[:148]) + 256 + sum(header[156:]):
            raise SnapshotError(f"tar header at byte {pos} is corrupt", code="bundle_malformed")
        size = int(header[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
        name = header[0:100].split(b"\0", 1)[0]
        prefix = header[345:500].split(b"\0", 1)[0]
        path = (prefix + b"/" + name if prefix else name).decode("utf-8")
        if kind != b"5":
            if path in files:
                raise SnapshotError(f"the bundle holds {path} twice", code="bundle_malformed")
            files[path] = data[pos + 512:pos + 512 + size]
        pos += 512 + (size + 511) // 512 * 512
    return files


def _tar_read_slow(data: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar:
                if member.isfile():
                    if member.name in files:
                        raise SnapshotError(f"the bundle holds {member.name} twice", code="bundle_malformed")
                    files[member.name] = tar.extractfile(member).read()
    except tarfile.TarError as exc:
        raise SnapshotError(f"not a snapshot bundle (tar): {exc}", code="bundle_malformed") from None
    return files


def bundle_load(path: str | os.PathLike) -> dict[str, bytes]:
    """A bundle file (tar) or an extracted bundle directory, as ``{path: bytes}``."""
    path = Path(path)
    try:
        if path.is_dir():
            return {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}
        return tar_read(path.read_bytes())
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc.strerror}", code="file_error") from None


# --- verification -------------------------------------------------------------------------------------------

@dataclass
class Failure:
    path: str
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"path": self.path, "code": self.code, "message": self.message}


@dataclass
class Report:
    level: str
    versions: dict[str, int] = field(default_factory=dict)
    expires: dict[str, str] = field(default_factory=dict)
    actions: int = 0
    signatures_checked: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict:
        return {"ok": self.ok, "level": self.level, "versions": self.versions, "expires": self.expires,
                "actions": self.actions, "signatures_checked": self.signatures_checked,
                "failures": [f.as_dict() for f in self.failures]}


@dataclass
class Verified:
    """The trusted view of a bundle after its metadata checked out."""

    files: dict[str, bytes]
    targets: dict[str, dict]  # path -> TUF target entry (length, hashes, custom), from a role allowed to sign it
    keys: dict[tuple[str, str], chainlib.KeyInfo]
    report: Report


def _load_md(files: dict[str, bytes], role: str, expected_type: str) -> tuple[dict, bytes]:
    raw = files.get(f"metadata/{role}.json")
    if raw is None:
        raise SnapshotError(f"the bundle has no metadata/{role}.json", code="bundle_malformed")
    try:
        md = _split_compact(raw) or json.loads(raw)
        signed = md["signed"]
        if signed["_type"] != expected_type or not str(signed["spec_version"]).startswith("1."):
            raise SnapshotError(f"{role}.json is not TUF 1.x {expected_type} metadata", code="bundle_malformed")
    except (ValueError, KeyError, TypeError):
        raise SnapshotError(f"{role}.json is not TUF metadata", code="bundle_malformed") from None
    return md, raw


def _split_compact(raw: bytes) -> dict | None:
    """Compact metadata (sorted keys, as the builder writes it) is ``{"signatures":[...],"signed":<canonical>}``:
    keep the raw bytes of ``signed`` so its signature is checked over them and nothing is re-serialised.
    What is parsed is exactly what is verified, so this is sound; any other layout returns None."""
    cut = raw.find(b'],"signed":')
    if not raw.startswith(b'{"signatures":') or cut < 0 or not raw.endswith(b"}"):
        return None
    try:
        head = json.loads(raw[:cut + 1] + b"}")
        body = raw[cut + 11:-1]
        return {"signatures": head["signatures"], "signed": json.loads(body), "_signed_bytes": body}
    except (ValueError, KeyError, TypeError):
        return None


def _check_signatures(md: dict, role: str, keys: dict[str, dict], keyids: list[str], threshold: int) -> None:
    valid = _valid_signers(md, _signed_bytes(md), keys, keyids)
    if len(valid) < threshold and "_signed_bytes" in md:  # the bytes were not canonical: re-serialise
        valid = _valid_signers(md, _canonical(md["signed"]), keys, keyids)
    if len(valid) < threshold:
        raise SnapshotError(f"{role} metadata has {len(valid)} valid signature(s); {threshold} needed",
                            code="metadata_signature_invalid",
                            suggestion="The bundle was altered or not signed by the registry you trust.")


def _signed_bytes(md: dict) -> bytes:
    return md.get("_signed_bytes") or _canonical(md["signed"])


def _valid_signers(md: dict, message: bytes, keys: dict[str, dict], keyids: list[str]) -> set[str]:
    return {s["keyid"] for s in md.get("signatures", []) if s.get("keyid") in keyids and s["keyid"] in keys
            and _sig_ok(keys[s["keyid"]], message, s.get("sig", ""))}


def _check_expiry(md: dict, role: str, now: datetime, report: Report) -> None:
    expires = md["signed"]["expires"]
    report.expires[role] = expires
    try:
        when = datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise SnapshotError(f"{role} expiry {expires!r} is malformed", code="bundle_malformed") from None
    if now > when:
        raise SnapshotError(f"{role} metadata expired at {expires} (a stale snapshot, or a freeze attack)",
                            code="snapshot_expired",
                            suggestion="Fetch a fresh bundle: GET /v1/snapshot or `action-registry snapshot "
                                       "download`.")


def _check_meta(files: dict[str, bytes], name: str, meta: dict, raw: bytes, version: int) -> None:
    if version != meta.get("version"):
        raise SnapshotError(f"{name} is version {version}; the signed snapshot says {meta.get('version')}",
                            code="metadata_version_mismatch")
    if "length" in meta and meta["length"] != len(raw):
        raise SnapshotError(f"{name} has {len(raw)} bytes; {meta['length']} were signed", code="metadata_mismatch")
    expected = (meta.get("hashes") or {}).get("sha256")
    if expected and hashlib.sha256(raw).hexdigest() != expected:
        raise SnapshotError(f"{name} does not match the hash the snapshot signed", code="metadata_mismatch")


def _root_verify(files: dict[str, bytes], trusted_root: dict, report: Report, now: datetime) -> dict:
    root, _ = _load_md(files, "root", "root")
    signed = root["signed"]
    trusted_id = tuf_keyid(trusted_root)
    role = signed["roles"]["root"]
    if trusted_id not in role["keyids"]:
        raise SnapshotError("the bundle's root metadata does not list the root key you trust", code="root_untrusted",
                            suggestion="Check --root: it must be one of the registry's offline root keys.")
    if not any(s.get("keyid") == trusted_id and _sig_ok(trusted_root, _canonical(signed), s.get("sig", ""))
               for s in root.get("signatures", [])):
        raise SnapshotError("root metadata is not signed by the root key you trust", code="root_untrusted")
    _check_signatures(root, "root", signed["keys"], role["keyids"], role["threshold"])
    _check_expiry(root, "root", now, report)
    report.versions["root"] = signed["version"]
    return signed


def metadata_verify(files: dict[str, bytes], *, root_key: dict, now: datetime | None = None,
                    level: str = FULL) -> Verified:
    """Check root, timestamp, snapshot, targets and every delegated role, then collect the signed targets."""
    now = now or datetime.now(UTC)
    report = Report(level=level)
    root = _root_verify(files, root_key, report, now)
    keys, roles = root["keys"], root["roles"]
    timestamp, _ = _load_md(files, "timestamp", "timestamp")
    _check_signatures(timestamp, "timestamp", keys, roles["timestamp"]["keyids"], roles["timestamp"]["threshold"])
    _check_expiry(timestamp, "timestamp", now, report)
    snapshot, snapshot_raw = _load_md(files, "snapshot", "snapshot")
    _check_meta(files, "snapshot.json", timestamp["signed"]["meta"]["snapshot.json"], snapshot_raw,
                snapshot["signed"]["version"])
    _check_signatures(snapshot, "snapshot", keys, roles["snapshot"]["keyids"], roles["snapshot"]["threshold"])
    _check_expiry(snapshot, "snapshot", now, report)
    meta = snapshot["signed"]["meta"]
    targets_md, targets_raw = _load_md(files, "targets", "targets")
    _check_meta(files, "targets.json", meta.get("targets.json", {}), targets_raw, targets_md["signed"]["version"])
    _check_signatures(targets_md, "targets", keys, roles["targets"]["keyids"], roles["targets"]["threshold"])
    _check_expiry(targets_md, "targets", now, report)
    report.versions.update(timestamp=timestamp["signed"]["version"], snapshot=snapshot["signed"]["version"],
                           targets=targets_md["signed"]["version"])
    targets = dict(targets_md["signed"]["targets"])
    delegations = targets_md["signed"].get("delegations") or {"keys": {}, "roles": []}
    for role in delegations["roles"]:
        name = role["name"]
        md, raw = _load_md(files, name, "targets")
        _check_meta(files, f"{name}.json", meta.get(f"{name}.json", {}), raw, md["signed"]["version"])
        _check_signatures(md, name, delegations["keys"], role["keyids"], role["threshold"])
        _check_expiry(md, name, now, report)
        patterns = [p.split("/") for p in role.get("paths", [])]
        for path, target in md["signed"]["targets"].items():
            if not any(_path_match(path.split("/"), p) for p in patterns):
                raise SnapshotError(f"role {name} signs {path}, outside its delegated paths",
                                    code="delegation_violation")
            if path in targets:
                raise SnapshotError(f"{path} is signed by two roles", code="delegation_violation")
            targets[path] = target
    key_infos = _keys_from(files, targets) if level == FULL else {}
    return Verified(files=files, targets=targets, keys=key_infos, report=report)


def _path_match(parts: list[str], pattern: list[str]) -> bool:
    if len(parts) != len(pattern):
        return False
    if pattern[-1] == "*" and not any(c in "".join(pattern[:-1]) for c in "*?[") and parts[-1]:
        return parts[:-1] == pattern[:-1]  # the usual "actions/<ns>/*": no fnmatch per target
    from fnmatch import fnmatchcase

    return all(fnmatchcase(a, b) for a, b in zip(parts, pattern, strict=True))


def _keys_from(files: dict[str, bytes], targets: dict[str, dict]) -> dict[tuple[str, str], chainlib.KeyInfo]:
    """The trust store shipped in the bundle (hash-checked first: it decides whose signatures count)."""
    raw = _target_bytes(files, KEYS_TARGET, targets.get(KEYS_TARGET))
    infos = {}
    for key in parse_json(raw)["keys"]:
        cert = None
        if key.get("certificate") and key.get("certificate_signature"):
            try:
                cert = chainlib.parse_certificate({"certificate": key["certificate"],
                                                   "signature": key["certificate_signature"]})
            except RegistryError:
                cert = None
        parent = (key["parent_kid"], key["parent_alg"]) if key.get("parent_kid") else None
        infos[(key["kid"], key["alg"])] = chainlib.KeyInfo(
            kid=key["kid"], alg=key["alg"], public_key=key["public_key"], status=key["status"], role=key["role"],
            scopes=tuple(key.get("scopes") or ()), parent=parent, certificate=cert)
    return infos


def _target_bytes(files: dict[str, bytes], path: str, target: dict | None) -> bytes:
    if target is None:
        raise SnapshotError(f"{path} is not a signed target of this bundle", code="target_missing")
    data = files.get("targets/" + path)
    if data is None:
        raise SnapshotError(f"the bundle lacks targets/{path}", code="target_missing")
    if len(data) != target["length"] or hashlib.sha256(data).hexdigest() != target["hashes"]["sha256"]:
        raise SnapshotError(f"targets/{path} does not match its signed length and hash", code="target_hash_mismatch")
    return data


# per-target checks (run in worker processes for the full level) ---------------------------------------------

_WORK: dict = {}


def _check_target(path: str, target: dict, data: bytes | None, keys, level: str, at_default: datetime
                  ) -> Failure | None:
    if data is None:
        return Failure(path, "target_missing", "the file is not in the bundle")
    if len(data) != target["length"] or hashlib.sha256(data).hexdigest() != target["hashes"]["sha256"]:
        return Failure(path, "target_hash_mismatch", "the bytes do not match the signed length and hash")
    if level != FULL or not path.startswith(ACTIONS + "/"):
        return None
    custom = target.get("custom") or {}
    try:
        name, version, sig = custom["name"], custom["version"], custom["signature"]
        doc = json.loads(data)
        if doc.get("name") != name or doc.get("version") != version or target_path(name, version) != path:
            return Failure(path, "target_mismatch", f"the document is {doc.get('name')}@{doc.get('version')}")
        key = keys.get((sig["kid"], sig["alg"]))
        if key is None:
            return Failure(path, "unknown_kid", f"the bundle's trust store has no {sig['alg']} key {sig['kid']}")
        crypto.verify(sig["alg"], key.public_key, data, sig["sig"])
        at = _when(custom.get("published_at")) or at_default
        walked = chainlib.walk_chain(key, lambda k, a: keys.get((k, a)), name=name, at=at)
        if not walked.ok:
            return Failure(path, walked.reason or "chain_invalid", walked.message)
    except RegistryError as exc:
        return Failure(path, exc.code, exc.message)
    except (KeyError, TypeError, ValueError) as exc:
        return Failure(path, "target_malformed", f"{type(exc).__name__}: {exc}")
    return None


def _when(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None


def _check_range(bounds: tuple[int, int]) -> list[Failure]:
    items, files, keys, level, at = (_WORK["items"], _WORK["files"], _WORK["keys"], _WORK["level"], _WORK["at"])
    out = []
    for path, target in items[bounds[0]:bounds[1]]:
        failure = _check_target(path, target, files.get("targets/" + path), keys, level, at)
        if failure is not None:
            out.append(failure)
    return out


def targets_verify(verified: Verified, *, level: str = FULL, processes: int | None = None,
                   paths: Iterable[str] | None = None) -> Report:
    """Every target's length and hash; at the full level also each action's publisher signature and chain.
    Signatures are checked by ``processes`` forked workers (default: one per CPU) for large bundles."""
    report = verified.report
    selected = sorted(verified.targets.items()) if paths is None else [(p, verified.targets[p]) for p in paths]
    report.actions = sum(1 for p, _ in selected if p.startswith(ACTIONS + "/"))
    processes = processes or os.cpu_count() or 1
    at = datetime.now(UTC)
    _WORK.update(items=selected, files=verified.files, keys=verified.keys, level=level, at=at)
    try:
        if level == FULL and processes > 1 and len(selected) >= PARALLEL_MIN and _can_fork():
            step = -(-len(selected) // processes)
            ranges = [(i, min(i + step, len(selected))) for i in range(0, len(selected), step)]
            with multiprocessing.get_context("fork").Pool(len(ranges)) as pool:
                failures = [f for part in pool.map(_check_range, ranges) for f in part]
        else:
            failures = _check_range((0, len(selected)))
    finally:
        _WORK.clear()
    report.failures.extend(failures)
    if level == FULL:
        report.signatures_checked = report.actions
    return report


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


# --- rollback protection: the last versions seen on this machine ------------------------------------------

def state_dir_default() -> Path:
    return Path(os.environ.get(ENV_STATE_DIR) or Path.home() / ".config" / "action-registry")


def _state_path(state_dir: Path, root_key: dict) -> Path:
    return state_dir / "snapshots" / f"{tuf_keyid(root_key)}.json"


def rollback_check(report: Report, *, root_key: dict, state_dir: Path) -> None:
    path = _state_path(state_dir, root_key)
    try:
        seen = json.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"cannot read the snapshot state {path}: {exc}", code="state_unreadable") from None
    for role in ("root", "timestamp", "snapshot", "targets"):
        if report.versions.get(role, 0) < seen.get(role, 0):
            raise SnapshotError(f"{role} version {report.versions.get(role)} is older than version {seen[role]} "
                                "already seen on this machine (a rollback attack, or an old bundle)",
                                code="snapshot_rollback",
                                suggestion="Use the newest bundle; the state is in " + str(path))


def state_record(report: Report, *, root_key: dict, state_dir: Path) -> None:
    path = _state_path(state_dir, root_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**report.versions, "seen_at": chainlib.format_time(datetime.now(UTC))}))
    os.replace(tmp, path)


# --- the three operations the CLI offers ---------------------------------------------------------------------

def root_key_from_text(text: str) -> dict:
    """``--root``: an Ed25519 public key as PEM or base64url, in TUF form."""
    try:
        b64 = crypto.normalize_public_key(crypto.ED25519, text)
    except RegistryError:
        raise SnapshotError("--root must be an Ed25519 public key (PEM or base64url)", code="malformed_key") from None
    return {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": crypto.b64url_decode(b64).hex()}}


def bundle_verify(files: dict[str, bytes], *, root_key: dict, level: str = FULL, now: datetime | None = None,
                  state_dir: Path | None = None, processes: int | None = None) -> Report:
    """The whole bundle offline: metadata, freshness, rollback, then every target. Records the versions seen
    (only when everything verified) so an older bundle is refused next time."""
    verified = metadata_verify(files, root_key=root_key, now=now, level=level)
    if state_dir is not None:
        rollback_check(verified.report, root_key=root_key, state_dir=state_dir)
    report = targets_verify(verified, level=level, processes=processes)
    if report.ok and state_dir is not None:
        state_record(report, root_key=root_key, state_dir=state_dir)
    return report


@dataclass(frozen=True)
class ResolvedAction:
    name: str
    version: str
    path: str
    canonical: bytes
    signature: dict
    document: dict
    report: Report


def action_resolve(files: dict[str, bytes], name: str, version: str | None, *, root_key: dict,
                   now: datetime | None = None, state_dir: Path | None = None) -> ResolvedAction:
    """One action from a bundle, fully verified (metadata, freshness, rollback, hash, signature, chain).
    Without a version: the highest release (a prerelease only when there is no release)."""
    import semver

    verified = metadata_verify(files, root_key=root_key, now=now, level=FULL)
    if state_dir is not None:
        rollback_check(verified.report, root_key=root_key, state_dir=state_dir)
    prefix = f"{ACTIONS}/{namespace_of(name)}/{name}@"
    candidates = {p[len(prefix):-5]: p for p in verified.targets if p.startswith(prefix) and p.endswith(".json")}
    if version is None and candidates:
        parsed = sorted((semver.Version.parse(v) for v in candidates), key=lambda v: (not v.prerelease, v))
        version = str(parsed[-1])
    path = candidates.get(version or "")
    if path is None:
        raise SnapshotError(f"the bundle has no {name}" + (f"@{version}" if version else ""), code="action_not_found",
                            status=404, suggestion=f"Versions in the bundle: {', '.join(sorted(candidates)) or 'none'}.")
    report = targets_verify(verified, level=FULL, processes=1, paths=[path])
    if not report.ok:
        failure = report.failures[0]
        raise SnapshotError(f"{name}@{version}: {failure.message}", code=failure.code, status=422)
    target = verified.targets[path]
    data = files["targets/" + path]
    if state_dir is not None:
        state_record(report, root_key=root_key, state_dir=state_dir)
    return ResolvedAction(name=name, version=version, path=path, canonical=data,
                          signature=target["custom"]["signature"], document=json.loads(data), report=report)
