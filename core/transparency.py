"""The transparency log: appends in the caller's transaction, signed checkpoints, proofs from stored nodes."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from action_registry import crypto, merkle
from action_registry.canonical import canonicalize, check_value
from action_registry.checkpoint import Checkpoint, NoteSigner, checkpoint_sign, timestamp_extension
from action_registry.errors import SignatureError
from core.exceptions import NotFound, Unprocessable
from core.models import Event, LogLeaf, LogNode
from core.prepared import sql_rows

# pg_advisory_xact_lock key owned by log_append: the bytes "ar:tlog" as a bigint.
LOG_LOCK_KEY = int.from_bytes(b"ar:tlog", "big")
RESERVED_FIELDS = ("kind", "integrated_at")
ENTRIES_PAGE_MAX = 1000

_signers: dict[tuple[str, str], NoteSigner] = {}
_signers_lock = threading.Lock()


# --- the log key ----------------------------------------------------------------------------------

def log_origin() -> str:
    """The checkpoint origin line, also the note key name: ``<host[/path] of PUBLIC_URL>/log`` by default."""
    if settings.ACTION_REGISTRY_LOG_ORIGIN:
        return settings.ACTION_REGISTRY_LOG_ORIGIN
    url = urlsplit(settings.ACTION_REGISTRY["PUBLIC_URL"])
    return f"{url.netloc or 'action-registry'}{url.path.rstrip('/')}/log"


def _key_load_or_create(path: Path) -> crypto.PrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write a temporary file, then hard-link it into place: the link fails if another process created
        # the key first, and nobody can ever read a half-written key.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        crypto.write_private_key(tmp, crypto.generate_private_key(crypto.ED25519))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = crypto.load_private_key(path.read_bytes())
    if crypto.private_key_alg(key) != crypto.ED25519:
        raise SignatureError(f"the log key {path} is not an Ed25519 key", code="log_key_invalid",
                             suggestion="Point ACTION_REGISTRY_LOG_KEY_FILE at an Ed25519 PKCS#8 PEM key.")
    return key


def log_signer() -> NoteSigner:
    """The registry's checkpoint signer, from ACTION_REGISTRY_LOG_KEY_FILE (created with mode 0600 if missing)."""
    where, origin = str(settings.ACTION_REGISTRY_LOG_KEY_FILE), log_origin()
    signer = _signers.get((where, origin))  # every publish signs a checkpoint: no lock, no Path, when known
    if signer is not None:
        return signer
    with _signers_lock:
        signer = _signers.get((where, origin))
        if signer is None:
            signer = NoteSigner(name=origin, key=_key_load_or_create(Path(where)))
            _signers[(where, origin)] = signer
    return signer


def log_key_info() -> dict[str, str]:
    verifier = log_signer().verifier
    return {"name": verifier.name, "origin": log_origin(), "alg": crypto.ED25519,
            "key_hash": f"{verifier.key_hash:08x}", "public_key": crypto.b64url_encode(verifier.public_key),
            "verifier_key": verifier.vkey}


# --- appending ------------------------------------------------------------------------------------

# One statement shape for any batch: the ORM's composite `pk__in` becomes an OR list that PostgreSQL plans
# afresh for every length, which cost more than the index reads themselves (see bench/log_proofs.py).
_NODES_SQL = ('SELECT n."level", n."index", n."hash" FROM unnest(%s::smallint[], %s::bigint[]) AS w("level", "index") '
              'JOIN core_lognode n ON n."level" = w."level" AND n."index" = w."index"')


def _fetch_nodes(nodes: Collection[merkle.Node]) -> dict[merkle.Node, bytes]:
    """One primary-key query for a batch of complete-subtree hashes."""
    if not nodes:
        return {}
    nodes = list(nodes)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_NODES_SQL, [[level for level, _ in nodes], [index for _, index in nodes]])
            rows = cursor.fetchall()
    else:
        rows = LogNode.objects.filter(pk__in=nodes).order_by().values_list("level", "index", "hash")
    return {(level, index): bytes(h) for level, index, h in rows}


def _lock_held_marker() -> None:
    """An on_commit no-op whose presence says this transaction holds the log lock (see log_lock)."""


def log_lock() -> None:
    """Serialise appends until the caller's transaction ends, so leaf indexes are dense and sequential.
    SQLite needs no lock: its writers already run one at a time (transaction_mode IMMEDIATE).

    Taken once per transaction (the outbox takes the same lock, core.services.event_emit): a marker in the
    connection's on-commit list records that it is held. Django drops the marker when the transaction ends
    and when a savepoint opened before it rolls back, which is exactly when PostgreSQL releases the lock."""
    if connection.vendor != "postgresql":
        return
    if any(entry[1] is _lock_held_marker for entry in connection.run_on_commit):
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOG_LOCK_KEY])
    transaction.on_commit(_lock_held_marker)


def log_lock_taken() -> None:
    """Record that the caller's transaction took the log lock inside a statement of its own (core_log_append,
    directly or through registry_publish), so that a later event_emit in it does not take it again."""
    if not any(entry[1] is _lock_held_marker for entry in connection.run_on_commit):
        transaction.on_commit(_lock_held_marker)


# SQLite's append (PostgreSQL's is the core_log_append function, core/migrations/0003): the log's size and the
# complete subtrees of its current tree, at (level k, index (size >> k) - 1) for each 1-bit k of the size.
def _log_head() -> tuple[int, dict[merkle.Node, bytes]]:
    size = log_size()
    return size, _fetch_nodes([(k, (size >> k) - 1) for k in range(size.bit_length()) if (size >> k) & 1])


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


_STAMP = "T"  # integrated_at's stand-in while the entry's bytes are cut around it
_STAMP_FIELD = b'"integrated_at":"T"'


def log_entry_halves(*, kind: str, payload: dict[str, Any]) -> tuple[bytes, bytes]:
    """The entry's RFC 8785 bytes before and after the characters of its ``integrated_at`` string, which the
    append fills in under the lock (the entry is ``{"kind", "integrated_at", **payload}``). Checks the payload:
    call it before the lock, so a bad payload holds no one up. The cut is unambiguous: inside a JSON string every
    quote is escaped, so ``"integrated_at":"`` with bare quotes is the member itself."""
    clash = set(payload) & set(RESERVED_FIELDS)
    if clash:
        raise ValueError(f"payload may not set {sorted(clash)}: the log sets them")
    plain = check_value(payload)
    data = canonicalize({"kind": kind, "integrated_at": _STAMP, **payload}, plain=plain and kind.isascii())
    cut = data.index(_STAMP_FIELD) + len(_STAMP_FIELD) - 2
    return data[:cut], data[cut + 1:]


# One statement: lock, outbox event, head, hashes, leaf and nodes (core/migrations/0003_log_append_function.py).
LOG_APPEND_SQL = "SELECT * FROM core_log_append(%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)"


def log_append_params(*, kind: str, namespace: str, subject: str, halves: tuple[bytes, bytes],
                      event: Event | None) -> list[Any]:
    """core_log_append's arguments after the lock key (registry_publish passes the same ones)."""
    return [kind, namespace, subject, *halves, event.kind if event else None,
            json.dumps(event.payload) if event else None, event.request_id if event else None]


def log_appended(columns: tuple, *, kind: str, namespace: str, subject: str, event: Event | None) -> LogLeaf:
    """The leaf core_log_append wrote, as a model instance carrying every complete subtree it knew
    (``tree_nodes``: log_receipt proves from them, no query); fills in ``event``'s id and time."""
    (event_id, event_at, index, integrated_at, data, leaf_hash, root_hash,
     old_levels, old_hashes, new_levels, new_indexes, new_hashes) = columns
    if connection.in_atomic_block:
        log_lock_taken()
    if event is not None:
        event.id, event.created_at = event_id, event_at
        event._state.adding, event._state.db = False, connection.alias
    known = {(lvl, (index >> lvl) - 1): bytes(h) for lvl, h in zip(old_levels or (), old_hashes or (), strict=True)}
    known.update({(lvl, idx): bytes(h) for lvl, idx, h in zip(new_levels, new_indexes, new_hashes, strict=True)})
    row = LogLeaf(index=index, kind=kind, namespace=namespace, subject=subject, data=bytes(data),
                  leaf_hash=bytes(leaf_hash), root_hash=bytes(root_hash), integrated_at=integrated_at)
    row._state.adding, row._state.db = False, connection.alias
    row.tree_nodes = known
    return row


def log_append(*, kind: str, payload: dict[str, Any], namespace: str = "", subject: str = "",
               event: Event | None = None) -> LogLeaf:
    """Append one entry, inside the transaction of the change it records: both commit or neither does.

    The leaf is the RFC 8785 form of ``{"kind", "integrated_at", **payload}``. Writes the leaf and every
    complete subtree it completes, and records the new root, so no later read rebuilds the tree. ``event``, an
    unsaved outbox row of the same namespace and subject (``core.services.event_emit_logged``), is written under
    the same lock, so event ids become visible in id order.

    On PostgreSQL one statement (core_log_append) does it all under the lock, held until COMMIT; everything that
    does not need the log's order (checking and serialising the payload) happens before.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("log_append must run inside the transaction of the change it records")
    if event is not None and (event.namespace, event.subject) != (namespace, subject):
        raise ValueError("the event and the log entry of one change share namespace and subject")
    halves = log_entry_halves(kind=kind, payload=payload)
    if connection.vendor == "postgresql":
        row = sql_rows(LOG_APPEND_SQL, [LOG_LOCK_KEY, *log_append_params(
            kind=kind, namespace=namespace, subject=subject, halves=halves, event=event)])[0]
        return log_appended(row, kind=kind, namespace=namespace, subject=subject, event=event)

    if event is not None:
        event.save()
    size, known = _log_head()
    now = timezone.now()
    data = halves[0] + _iso(now).encode() + halves[1]
    leaf = merkle.leaf_hash(data)

    # The new leaf completes one subtree per trailing 1-bit of its index; each needs its left sibling.
    top = (~size & (size + 1)).bit_length() - 1  # number of trailing 1-bits of size
    created = {(0, size): leaf}
    h = leaf
    for lvl in range(top):
        h = merkle.node_hash(known[(lvl, (size >> lvl) - 1)], h)
        created[(lvl + 1, size >> (lvl + 1))] = h
    known.update(created)
    root = merkle.root_from_nodes(size + 1, lambda nodes: {n: known[n] for n in nodes if n in known})

    row = LogLeaf(index=size, kind=kind, namespace=namespace, subject=subject, data=data, leaf_hash=leaf,
                  root_hash=root, integrated_at=now)
    row.save(force_insert=True)
    LogNode.objects.bulk_create([LogNode(level=lvl, index=idx, hash=hv) for (lvl, idx), hv in created.items()])
    row.tree_nodes = known  # every complete subtree of the new tree: log_receipt proves from them, no query
    return row


# --- reading --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: str
    timestamp: datetime | None


def log_size() -> int:
    last = LogLeaf.objects.order_by("-index").values_list("index", flat=True).first()
    return 0 if last is None else last + 1


def _require_size(tree_size: int, current: int) -> None:
    if tree_size > current:
        raise Unprocessable(f"the log has {current} entries; there is no tree of size {tree_size} yet",
                            code="tree_size_too_large",
                            suggestion="Ask for a size up to the one in GET /v1/log/checkpoint.")


def log_root(tree_size: int) -> bytes:
    """The root of the first ``tree_size`` leaves: stored on the last of them, one primary-key read."""
    if tree_size == 0:
        return merkle.EMPTY_ROOT
    row = LogLeaf.objects.filter(index=tree_size - 1).values_list("root_hash", flat=True).first()
    if row is None:
        _require_size(tree_size, log_size())
    return bytes(row)


def log_checkpoint(tree_size: int | None = None) -> SignedCheckpoint:
    """The signed checkpoint of the whole log (or of ``tree_size``). Deterministic: Ed25519 signatures are,
    and the timestamp is the integration time of the tree's newest leaf, so one size has one note."""
    qs = LogLeaf.objects.values_list("index", "root_hash", "integrated_at")
    row = qs.order_by("-index").first() if tree_size is None else (
        qs.filter(index=tree_size - 1).first() if tree_size > 0 else None)
    if row is None and tree_size:
        _require_size(tree_size, log_size())
    if row is None:
        checkpoint, when = Checkpoint(origin=log_origin(), size=0, root_hash=merkle.EMPTY_ROOT), None
    else:
        index, root, when = row
        checkpoint = Checkpoint(origin=log_origin(), size=index + 1, root_hash=bytes(root),
                                extensions=(timestamp_extension(when),))
    return SignedCheckpoint(checkpoint=checkpoint, note=checkpoint_sign(checkpoint, log_signer()), timestamp=when)


def log_entries(*, start: int, end: int | None = None) -> tuple[list[LogLeaf], int]:
    """Leaves [start, end) — at most ENTRIES_PAGE_MAX, clamped to the log — and the log's size."""
    size = log_size()
    if start < 0 or (end is not None and end < start):
        raise Unprocessable(f"[{start}, {end}) is not a range of entries", code="invalid_range",
                            suggestion="Use 0 <= start <= end; end is exclusive.")
    stop = min(size, start + ENTRIES_PAGE_MAX, end if end is not None else size)
    if start > size:
        raise NotFound(f"the log has {size} entries; none starts at {start}", code="entry_not_found",
                       suggestion="Ask for start below the size in GET /v1/log/checkpoint.")
    return list(LogLeaf.objects.filter(index__gte=start, index__lt=stop).order_by("index")), size


def log_leaf_by_hash(*, leaf_hash: bytes, tree_size: int) -> LogLeaf:
    leaf = LogLeaf.objects.filter(leaf_hash=leaf_hash, index__lt=tree_size).order_by("index").first()
    if leaf is None:
        raise NotFound(f"no entry with leaf hash {leaf_hash.hex()} in the first {tree_size} entries",
                       code="leaf_not_found", suggestion="Check the hash (lowercase hex of SHA-256(0x00 || entry)) "
                                                         "or ask against a larger tree_size.")
    return leaf


def log_leaf_for(*, kind: str, subject: str) -> LogLeaf | None:
    """The first entry of ``kind`` about ``subject`` (e.g. the publish of ``ssh.exec@1.0.0``): its index is the
    integration order and its ``integrated_at`` the log's own time, which a signer cannot back-date."""
    return LogLeaf.objects.filter(kind=kind, subject=subject).order_by("index").first()


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    root_hash: bytes
    hashes: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: bytes
    second_root: bytes
    hashes: list[bytes]


def _prove(ranges: list[tuple[int, int]], sizes: tuple[int, ...],
           fetch=_fetch_nodes) -> tuple[list[bytes], list[bytes]]:
    """Proof elements for ``ranges`` and the roots of trees of ``sizes``, all from one node query."""
    roots = [(0, size) for size in sizes if size > 0]
    try:
        hashes = merkle.range_hashes(ranges + roots, fetch)
    except merkle.ProofError as exc:
        if exc.code == "log_storage_incomplete":  # usually: a tree the log has not grown to yet
            _require_size(max(sizes), log_size())
        raise
    computed = iter(hashes[len(ranges):])
    return hashes[:len(ranges)], [next(computed) if size > 0 else merkle.EMPTY_ROOT for size in sizes]


def log_inclusion_proof(*, index: int, tree_size: int, fetch=_fetch_nodes) -> InclusionProof:
    """The audit path of leaf ``index`` and the root it leads to: one primary-key batch, O(log n) rows."""
    hashes, (root,) = _prove(merkle.inclusion_ranges(index, tree_size), (tree_size,), fetch)
    return InclusionProof(index=index, tree_size=tree_size, root_hash=root, hashes=hashes)


def log_consistency_proof(*, first: int, second: int) -> ConsistencyProof:
    """The proof that tree ``first`` is a prefix of tree ``second``, with both roots: one batch, O(log n) rows."""
    if first > second:
        raise Unprocessable(f"first ({first}) is larger than second ({second})", code="invalid_range",
                            suggestion="A log only grows: ask for first <= second.")
    hashes, (first_root, second_root) = _prove(merkle.consistency_ranges(first, second), (first, second))
    return ConsistencyProof(first=first, second=second, first_root=first_root, second_root=second_root,
                            hashes=hashes)


def leaf_json(leaf: LogLeaf) -> dict[str, Any]:
    """The wire form of an entry: the exact canonical text (hash it to check leaf_hash) and its parsed form."""
    text = bytes(leaf.data).decode("utf-8")
    return {"index": leaf.index, "leaf_hash": bytes(leaf.leaf_hash).hex(), "kind": leaf.kind,
            "namespace": leaf.namespace, "subject": leaf.subject, "integrated_at": _iso(leaf.integrated_at),
            "data": text, "entry": json.loads(text)}


def log_receipt(leaf: LogLeaf) -> dict[str, Any]:
    """Proof that the log took ``leaf`` in: the checkpoint of the tree it completed and the inclusion proof
    against that checkpoint's (signed) root. Deterministic, so a re-publish gets the same receipt."""
    size = leaf.index + 1
    known = getattr(leaf, "tree_nodes", None)
    if known is None:
        signed = log_checkpoint(size)
        proof = log_inclusion_proof(index=leaf.index, tree_size=size)
    else:  # just appended (log_append): the leaf row holds the tree's root and time, and we hold its nodes
        checkpoint = Checkpoint(origin=log_origin(), size=size, root_hash=bytes(leaf.root_hash),
                                extensions=(timestamp_extension(leaf.integrated_at),))
        signed = SignedCheckpoint(checkpoint=checkpoint, note=checkpoint_sign(checkpoint, log_signer()),
                                  timestamp=leaf.integrated_at)

        def fetch(nodes):
            nodes = list(nodes)
            found = {n: known[n] for n in nodes if n in known}
            missing = [n for n in nodes if n not in known]
            return {**found, **_fetch_nodes(missing)} if missing else found

        proof = log_inclusion_proof(index=leaf.index, tree_size=size, fetch=fetch)
    return {"leaf_index": leaf.index, "leaf_hash": bytes(leaf.leaf_hash).hex(),
            "integrated_at": _iso(leaf.integrated_at), "entry": bytes(leaf.data).decode("utf-8"),
            "checkpoint": signed.note,
            "inclusion_proof": {"tree_size": size, "hashes": [p.hex() for p in proof.hashes]}}


def log_receipt_for(*, kind: str, subject: str) -> dict[str, Any] | None:
    leaf = log_leaf_for(kind=kind, subject=subject)
    return None if leaf is None else log_receipt(leaf)
