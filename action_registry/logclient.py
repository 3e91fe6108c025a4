"""Client side of the transparency log: verify receipts and proofs, remember checkpoints, monitor namespaces.

Trust model: the log key is pinned per registry (given explicitly, from ``ACTION_REGISTRY_LOG_KEY``, or on first
use). Every checkpoint seen is checked against the newest one remembered in a local state file, by a consistency
proof, in whichever direction the sizes point: a registry that forks its log or rewrites an entry cannot produce
one, and the client raises ``LogError`` with code ``log_inconsistent`` carrying both signed checkpoints as evidence.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from . import merkle
from .checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteVerifier,
    checkpoint_open,
    checkpoint_parse,
    note_split,
)
from .document import in_namespace
from .errors import ApiError, InvalidResponseError, NetworkError, RegistryError

try:  # POSIX advisory locks keep concurrent CLI runs from losing each other's updates
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

ENV_URL = "ACTION_REGISTRY_URL"
ENV_STATE_DIR = "ACTION_REGISTRY_STATE_DIR"
ENV_LOG_KEY = "ACTION_REGISTRY_LOG_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"
STATE_FILE = "checkpoints.json"
PUBLISH_KIND = "action.published"


class LogError(RegistryError):
    """The log did not check out. ``code``: log_inconsistent (fork or rewrite), log_entry_mismatch, not_logged,
    receipt_invalid, log_key_changed; ``details`` carries the evidence."""

    code = "log_inconsistent"
    status = 0
    default_suggestion = ("Keep the state file and the details as evidence, and report it: the registry showed "
                          "you a history that contradicts what it showed you before.")


# --- local state ----------------------------------------------------------------------------------

def state_path() -> Path:
    """``$ACTION_REGISTRY_STATE_DIR/checkpoints.json``, else ``~/.config/action-registry/checkpoints.json``."""
    base = os.environ.get(ENV_STATE_DIR)
    return (Path(base) if base else Path.home() / ".config" / "action-registry") / STATE_FILE


def registry_id(url: str) -> str:
    """One state entry per registry: the base URL without a trailing slash or /v1."""
    url = url.strip().rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


class CheckpointStore:
    """The JSON state file: per registry, the pinned log key, the newest verified checkpoint, monitor progress."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else state_path()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise LogError(f"cannot read the state file {self.path}: {exc}", code="state_unreadable",
                           suggestion="Fix or move the file; deleting it forgets every checkpoint seen.") from None
        return data if isinstance(data, dict) else {}

    def load(self, registry: str) -> dict[str, Any]:
        return dict(self._read().get(registry_id(registry), {}))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if fcntl is None:
            yield
            return
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def update(self, registry: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Read-modify-write one registry's entry under a lock; the file is replaced atomically (mode 0600)."""
        with self._locked():
            data = self._read()
            entry = change(dict(data.get(registry_id(registry), {})))
            data[registry_id(registry)] = entry
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".checkpoints.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(data, handle, indent=2, sort_keys=True)
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        return entry


# --- HTTP ------------------------------------------------------------------------------------------

class LogClient:
    """Blocking HTTP access to /v1/log/*. Pass ``http_client`` to reuse a configured ``httpx.Client``."""

    def __init__(self, base_url: str | None = None, *, http_client: httpx.Client | None = None,
                 timeout: float = 10.0) -> None:
        self.base_url = registry_id(base_url or os.environ.get(ENV_URL) or DEFAULT_URL)
        self._http = http_client or httpx.Client(timeout=timeout)
        self._owns_http = http_client is None

    def __enter__(self) -> LogClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        url = f"{self.base_url}/v1/log/{path}"
        try:
            response = self._http.get(url, params={k: v for k, v in (params or {}).items() if v is not None})
        except httpx.HTTPError as exc:
            raise NetworkError(f"GET {url}: {exc.__class__.__name__} {exc}"[:300], details={"url": url}) from None
        if response.status_code != 200:
            try:
                err = response.json()["error"]
                raise ApiError(err["message"], code=err["code"], suggestion=err.get("suggestion", ""),
                               status=response.status_code, details=err.get("details"))
            except (ValueError, KeyError, TypeError):
                raise InvalidResponseError(f"GET {url} answered {response.status_code}", status=response.status_code,
                                           details={"url": url}) from None
        return response

    def _json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            data = self._get(path, params).json()
        except ValueError:
            raise InvalidResponseError(f"/v1/log/{path} did not answer JSON") from None
        if not isinstance(data, dict):
            raise InvalidResponseError(f"/v1/log/{path} did not answer a JSON object")
        return data

    def key(self) -> dict[str, Any]:
        return self._json("key")

    def checkpoint_note(self) -> str:
        return self._get("checkpoint").text

    def consistency(self, first: int, second: int) -> list[bytes]:
        return _hashes(self._json("proof/consistency", {"first": first, "second": second}))

    def inclusion(self, *, tree_size: int, leaf_hash: bytes | None = None, subject: str | None = None,
                  kind: str = PUBLISH_KIND) -> dict[str, Any]:
        return self._json("proof/inclusion", {"tree_size": tree_size, "leaf_hash": leaf_hash.hex() if leaf_hash
                                              else None, "subject": subject, "kind": kind if subject else None})

    def entries(self, start: int, end: int) -> list[dict[str, Any]]:
        entries = self._json("entries", {"start": start, "end": end}).get("entries")
        if not isinstance(entries, list):
            raise InvalidResponseError("/v1/log/entries has no entries list")
        return entries


def _hashes(data: Mapping[str, Any]) -> list[bytes]:
    try:
        return [bytes.fromhex(h) for h in data["hashes"]]
    except (KeyError, TypeError, ValueError):
        raise InvalidResponseError("the proof's hashes are not a list of hex strings") from None


# --- checkpoints ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint whose signature by the pinned log key verified."""

    checkpoint: Checkpoint
    note: str

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root_hash(self) -> bytes:
        return self.checkpoint.root_hash


def log_verifier(client: LogClient, store: CheckpointStore, *, verifier_key: str | None = None) -> NoteVerifier:
    """The log key to trust: ``verifier_key``, else ``$ACTION_REGISTRY_LOG_KEY``, else the one pinned in the state
    file, else the registry's own answer, pinned now (trust on first use)."""
    explicit = verifier_key or os.environ.get(ENV_LOG_KEY)
    pinned = store.load(client.base_url).get("verifier_key")
    if explicit:
        verifier = NoteVerifier.from_vkey(explicit)
        if pinned and pinned != verifier.vkey:
            raise LogError(f"the log key given ({verifier.vkey}) is not the one pinned for {client.base_url} "
                           f"({pinned})", code="log_key_changed",
                           suggestion="If the registry announced a new log key, remove its entry from the state file.",
                           details={"pinned": pinned, "given": verifier.vkey})
    elif pinned:
        return NoteVerifier.from_vkey(pinned)
    else:
        verifier = NoteVerifier.from_vkey(str(client.key().get("verifier_key", "")))
    if pinned != verifier.vkey:
        store.update(client.base_url, lambda entry: {**entry, "verifier_key": verifier.vkey})
    return verifier


def _consistent(client: LogClient, old: VerifiedCheckpoint, new: VerifiedCheckpoint) -> None:
    small, big = (old, new) if old.size <= new.size else (new, old)
    try:
        proof = [] if small.size == big.size else client.consistency(small.size, big.size)
        merkle.verify_consistency(small.size, big.size, proof, small.root_hash, big.root_hash)
    except merkle.ProofError as exc:
        reason = exc.message
    except ApiError as exc:
        if exc.code not in ("tree_size_too_large", "invalid_range"):
            raise
        # The registry signed a tree it can no longer show: its log was rolled back or truncated.
        reason = f"the registry cannot prove its own tree of size {big.size}: {exc.message}"
    else:
        return
    raise LogError(f"the log is inconsistent: the tree of size {old.size} seen before and the tree of size "
                   f"{new.size} seen now cannot both be true ({reason})", code="log_inconsistent",
                   details={"remembered": old.note, "received": new.note})


def checkpoint_observe(client: LogClient, note: str, *, store: CheckpointStore | None = None,
                       verifier: NoteVerifier | None = None) -> VerifiedCheckpoint:
    """Verify ``note``'s signature, prove it consistent with the remembered checkpoint (either direction) and
    remember whichever is newer. Use it for every checkpoint you meet, including those inside receipts."""
    store = store or CheckpointStore()
    verifier = verifier or log_verifier(client, store)
    try:
        new = VerifiedCheckpoint(checkpoint_open(note, verifier), note)
    except CheckpointError as exc:
        raise LogError(exc.message, code=exc.code, suggestion=exc.suggestion) from None
    remembered = store.load(client.base_url).get("checkpoint")
    if remembered:
        text, _ = note_split(remembered)
        old = VerifiedCheckpoint(checkpoint_parse(text), remembered)
        if old.checkpoint.origin != new.checkpoint.origin:
            raise LogError(f"checkpoint of log {new.checkpoint.origin!r}, but {client.base_url} served "
                           f"{old.checkpoint.origin!r} before", code="log_inconsistent",
                           details={"remembered": old.note, "received": new.note})
        _consistent(client, old, new)

    def keep_newest(entry: dict[str, Any]) -> dict[str, Any]:
        # Re-read under the lock: another run may have stored a newer checkpoint meanwhile.
        current = entry.get("checkpoint")
        if current and checkpoint_parse(note_split(current)[0]).size >= new.size:
            return entry
        return {**entry, "checkpoint": new.note, "seen_at": datetime.now(UTC).isoformat()}

    store.update(client.base_url, keep_newest)
    return new


def checkpoint_refresh(client: LogClient, *, store: CheckpointStore | None = None,
                       verifier_key: str | None = None) -> VerifiedCheckpoint:
    """Fetch the newest checkpoint, verify it and its consistency with the one remembered, remember it."""
    store = store or CheckpointStore()
    verifier = log_verifier(client, store, verifier_key=verifier_key)
    return checkpoint_observe(client, client.checkpoint_note(), store=store, verifier=verifier)


# --- inclusion ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Inclusion:
    """An entry proven to be in the log under a verified checkpoint."""

    leaf_index: int
    leaf_hash: bytes
    entry: dict[str, Any]
    checkpoint: VerifiedCheckpoint

    @property
    def integrated_at(self) -> str | None:
        return self.entry.get("integrated_at")


def _entry_check(entry: Mapping[str, Any], expect: Mapping[str, Any] | None, where: str) -> None:
    wrong = {k: {"expected": v, "logged": entry.get(k)} for k, v in (expect or {}).items() if entry.get(k) != v}
    if wrong:
        raise LogError(f"{where}: the logged entry differs from what you hold in {sorted(wrong)}",
                       code="log_entry_mismatch", details={"fields": wrong},
                       suggestion="The registry logged other content under this name: treat it as an attack "
                                  "until its owner explains it.")


def receipt_verify(receipt: Mapping[str, Any], *, verifier: NoteVerifier,
                   expect: Mapping[str, Any] | None = None) -> Inclusion:
    """Offline check of a publish receipt: the checkpoint's signature, the entry's leaf hash, the inclusion proof
    against the checkpoint's root, and (``expect``) the entry's fields, e.g. name, version, content_hash."""
    try:
        checkpoint = VerifiedCheckpoint(checkpoint_open(receipt["checkpoint"], verifier), receipt["checkpoint"])
        data = str(receipt["entry"]).encode("utf-8")
        leaf = merkle.leaf_hash(data)
        if leaf.hex() != receipt["leaf_hash"]:
            raise LogError("the receipt's entry does not hash to its leaf_hash", code="receipt_invalid")
        proof = receipt["inclusion_proof"]
        if proof["tree_size"] != checkpoint.size:
            raise LogError("the receipt's proof is for another tree size than its checkpoint", code="receipt_invalid")
        merkle.verify_inclusion(int(receipt["leaf_index"]), checkpoint.size, leaf,
                                [bytes.fromhex(h) for h in proof["hashes"]], checkpoint.root_hash)
        entry = json.loads(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise LogError(f"the receipt is malformed ({exc.__class__.__name__}: {exc})"[:200],
                       code="receipt_invalid", suggestion="Pass the `receipt` object of a publish response.") from None
    except (CheckpointError, merkle.ProofError) as exc:
        raise LogError(f"the receipt does not verify: {exc.message}", code="receipt_invalid",
                       suggestion="Check that the receipt came from this registry and was not edited.") from None
    _entry_check(entry, expect, "receipt")
    return Inclusion(leaf_index=int(receipt["leaf_index"]), leaf_hash=leaf, entry=entry, checkpoint=checkpoint)


def receipt_check(client: LogClient, receipt: Mapping[str, Any], *, store: CheckpointStore | None = None,
                  verifier_key: str | None = None, expect: Mapping[str, Any] | None = None) -> Inclusion:
    """``receipt_verify``, then (online) refresh the newest checkpoint and prove the receipt's checkpoint is a
    prefix of it: a registry that later rewrote the entry cannot pass, even with a client that has no memory."""
    store = store or CheckpointStore()
    verifier = log_verifier(client, store, verifier_key=verifier_key)
    inclusion = receipt_verify(receipt, verifier=verifier, expect=expect)
    checkpoint_observe(client, client.checkpoint_note(), store=store, verifier=verifier)
    checkpoint_observe(client, inclusion.checkpoint.note, store=store, verifier=verifier)
    return inclusion


def record_inclusion_verify(client: LogClient, *, name: str, version: str, content_hash: str,
                            signature: str | None = None, store: CheckpointStore | None = None,
                            verifier_key: str | None = None) -> Inclusion:
    """What ``action-registry verify`` checks about the log: the publish of name@version is in the tree of the
    newest checkpoint (itself consistent with everything seen before) and logs exactly this content hash
    (and signature, when given)."""
    store = store or CheckpointStore()
    checkpoint = checkpoint_refresh(client, store=store, verifier_key=verifier_key)
    where = f"{name}@{version}"
    if checkpoint.size == 0:
        raise LogError(f"{where} is not in the log: the log is empty", code="not_logged",
                       suggestion="A record the log does not hold was never published through this registry.")
    try:
        answer = client.inclusion(tree_size=checkpoint.size, subject=where, kind=PUBLISH_KIND)
    except ApiError as exc:
        if exc.code != "leaf_not_found":
            raise
        raise LogError(f"{where} is not in the log of {checkpoint.size} entries", code="not_logged",
                       suggestion="A record the log does not hold was never published through this "
                                  "registry.") from None
    try:
        data = str(answer["entry"]["data"]).encode("utf-8")
        index = int(answer["leaf_index"])
        leaf = merkle.leaf_hash(data)
        merkle.verify_inclusion(index, checkpoint.size, leaf, _hashes(answer), checkpoint.root_hash)
        entry = json.loads(data)
    except (KeyError, TypeError, ValueError):
        raise InvalidResponseError("the inclusion proof answer is malformed") from None
    except merkle.ProofError as exc:
        raise LogError(f"the log's inclusion proof for {where} does not verify against the checkpoint of size "
                       f"{checkpoint.size}: {exc.message}", code="log_inconsistent",
                       details={"checkpoint": checkpoint.note, "leaf_index": answer.get("leaf_index")}) from None
    expect = {"kind": PUBLISH_KIND, "name": name, "version": version, "content_hash": content_hash}
    if signature is not None:
        expect["signature"] = signature
    _entry_check(entry, expect, where)
    return Inclusion(leaf_index=index, leaf_hash=leaf, entry=entry, checkpoint=checkpoint)


# --- monitoring -----------------------------------------------------------------------------------

def entry_touches(entry: Mapping[str, Any], namespaces: Sequence[str], keys: set[str]) -> bool:
    """Whether an entry concerns one of ``namespaces``: an action under one; a namespace claim on, above or
    below one; a key whose scopes reach into one (a root key with no scopes reaches all), whether added
    directly or by an accepted certificate; and any later change to such a key (``keys``: kid/alg seen)."""
    kind = str(entry.get("kind", ""))

    def overlaps(prefix: object) -> bool:
        return isinstance(prefix, str) and bool(prefix) and any(
            in_namespace(prefix, ns) or in_namespace(ns, prefix) for ns in namespaces)

    if kind.startswith("action."):
        name = entry.get("name")
        return isinstance(name, str) and any(in_namespace(name, ns) for ns in namespaces)
    if overlaps(entry.get("prefix")) or overlaps(entry.get("namespace")):
        return True
    if kind.startswith("key."):
        cert = entry.get("certificate")
        source = cert if isinstance(cert, Mapping) else entry
        kid = f"{source.get('kid')}/{source.get('alg')}"
        scopes = source.get("scopes")
        if isinstance(scopes, list) and (not scopes or any(overlaps(scope) for scope in scopes)):
            keys.add(kid)
            return True
        return kid in keys or f"{entry.get('rotates')}/{source.get('alg')}" in keys
    return False


@dataclass
class MonitorReport:
    """What ``log monitor`` prints: the verified checkpoint, the range read and the entries that matter."""

    checkpoint: VerifiedCheckpoint
    start: int
    end: int
    matches: list[dict[str, Any]] = field(default_factory=list)


def log_monitor(client: LogClient, *, namespaces: Sequence[str], store: CheckpointStore | None = None,
                verifier_key: str | None = None, page_size: int = 1000) -> MonitorReport:
    """Read every entry added since the last run, check each against its leaf hash, rebuild the tree's right
    edge and require it to hash to the verified checkpoint's root; report entries touching ``namespaces``.
    The first run reads the whole log. Progress (a compact range, O(log n) hashes) is saved only once the
    root matched, so an interrupted or refused run is simply repeated."""
    store = store or CheckpointStore()
    checkpoint = checkpoint_refresh(client, store=store, verifier_key=verifier_key)
    saved = store.load(client.base_url).get("monitor") or {}
    if sorted(saved.get("namespaces", [])) != sorted(namespaces):
        saved = {}  # other namespaces: the relevant keys differ, so read from the start
    try:
        frontier = merkle.CompactRange(int(saved.get("size", 0)), [bytes.fromhex(h) for h in saved.get("hashes", [])])
    except (ValueError, merkle.ProofError):
        raise LogError("the monitor state in the state file is corrupt", code="state_unreadable",
                       suggestion="Delete its `monitor` entry to read the log again from the start.") from None
    keys = set(saved.get("keys", []))
    report = MonitorReport(checkpoint=checkpoint, start=frontier.size, end=checkpoint.size)
    if frontier.size > checkpoint.size:
        raise LogError(f"the monitor has read {frontier.size} entries but the newest checkpoint has "
                       f"{checkpoint.size}", code="log_inconsistent", details={"checkpoint": checkpoint.note})
    while frontier.size < checkpoint.size:
        page = client.entries(frontier.size, min(checkpoint.size, frontier.size + page_size))
        if not page:
            raise LogError(f"the log served no entries at {frontier.size} below its size {checkpoint.size}",
                           code="log_inconsistent", details={"checkpoint": checkpoint.note})
        for item in page:
            try:
                index, data, claimed = int(item["index"]), str(item["data"]).encode("utf-8"), item["leaf_hash"]
                entry = json.loads(data)
            except (KeyError, TypeError, ValueError):
                raise InvalidResponseError("a log entry is malformed") from None
            if index != frontier.size:
                raise LogError(f"the log served entry {index} where entry {frontier.size} belongs",
                               code="log_inconsistent", details={"checkpoint": checkpoint.note})
            if index >= checkpoint.size:
                break  # entries appended after the checkpoint wait for the next run
            leaf = merkle.leaf_hash(data)
            if leaf.hex() != claimed:
                raise LogError(f"entry {index} does not hash to the leaf hash served with it",
                               code="log_entry_mismatch", details={"index": index, "leaf_hash": claimed})
            frontier.append(leaf)
            if entry_touches(entry, namespaces, keys):
                report.matches.append({"index": index, **entry})
    if frontier.root() != checkpoint.root_hash:
        raise LogError(f"the {checkpoint.size} entries served do not hash to the signed root of the checkpoint",
                       code="log_inconsistent", details={"checkpoint": checkpoint.note})
    store.update(client.base_url, lambda entry: {**entry, "monitor": {
        "size": frontier.size, "hashes": [h.hex() for h in frontier.hashes], "keys": sorted(keys),
        "namespaces": sorted(namespaces)}})
    return report


def verification_log_check(base_url: str | None, *, name: str, version: str, content_hash: str,
                           verifier_key: str | None = None) -> tuple[Inclusion | None, LogError | None]:
    """The log step of a local verification, shared by the CLI and the MCP server: ``(inclusion, None)`` when
    the publish is logged in a checkpoint consistent with every one seen before, else ``(None, error)``."""
    try:
        with LogClient(base_url) as log:
            return record_inclusion_verify(log, name=name, version=version, content_hash=content_hash,
                                           verifier_key=verifier_key), None
    except LogError as exc:
        return None, exc


def inclusion_check_text(inc: Inclusion) -> str:
    return (f"logged as entry {inc.leaf_index} at {inc.integrated_at}, included in the signed checkpoint of size "
            f"{inc.checkpoint.size}, consistent with earlier checkpoints")
