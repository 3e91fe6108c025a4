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
    path, origin = Path(settings.ACTION_REGISTRY_LOG_KEY_FILE), log_origin()
    with _signers_lock:
        signer = _signers.get((str(path), origin))
        if signer is None:
            signer = NoteSigner(name=origin, key=_key_load_or_create(path))
            _signers[(str(path), origin)] = signer
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
    """Record that the caller took the log lock itself, with ``pg_advisory_xact_lock(LOG_LOCK_KEY)`` at the end
    of a statement it sent anyway (the publish path's store statement): one round trip fewer while every other
    append waits. The next statement reads the log head, after the lock, so it sees the latest leaf."""
    if not any(entry[1] is _lock_held_marker for entry in connection.run_on_commit):
        transaction.on_commit(_lock_held_marker)


# The log's size and the hashes of the complete subtrees of its current tree (one per 1-bit of the size,
# at (level k, index (size >> k) - 1)): everything an append needs, in one round trip under the lock.
_HEAD_SQL = ('WITH s AS (SELECT COALESCE(MAX("index") + 1, 0) AS n FROM core_logleaf) '
             'SELECT s.n, k.lvl, node."hash" FROM s '
             'LEFT JOIN generate_series(0, 62) AS k(lvl) ON (s.n >> k.lvl) & 1 = 1 '
             'LEFT JOIN core_lognode node ON node."level" = k.lvl AND node."index" = (s.n >> k.lvl) - 1')
# The same, with the change's outbox event written in that round trip: its id comes from the sequence under
# the lock, so event ids become visible in id order (core.services.event_emit keeps the same promise).
_HEAD_EVENT_SQL = ('WITH e AS (INSERT INTO core_event (kind, namespace, subject, payload, request_id, created_at) '
                   'VALUES (%s, %s, %s, %s::jsonb, %s, %s) RETURNING id), '
                   's AS (SELECT COALESCE(MAX("index") + 1, 0) AS n FROM core_logleaf) '
                   'SELECT s.n, k.lvl, node."hash", (SELECT id FROM e) FROM s '
                   'LEFT JOIN generate_series(0, 62) AS k(lvl) ON (s.n >> k.lvl) & 1 = 1 '
                   'LEFT JOIN core_lognode node ON node."level" = k.lvl AND node."index" = (s.n >> k.lvl) - 1')
# The leaf and the nodes it completes, in one statement.
_LEAF_SQL = ('WITH leaf AS (INSERT INTO core_logleaf ("index", kind, namespace, subject, data, leaf_hash, root_hash, '
             'integrated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)) '
             'INSERT INTO core_lognode ("level", "index", "hash") '
             'SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])')


def _log_head(event: Event | None = None) -> tuple[int, dict[merkle.Node, bytes]]:
    """(size, {node: hash} of the size's complete subtrees): one query on PostgreSQL, two elsewhere.
    With ``event`` (unsaved), the event is inserted in the same round trip and gets its id."""
    if connection.vendor != "postgresql":
        if event is not None:
            event.save()
        size = log_size()
        return size, _fetch_nodes([(k, (size >> k) - 1) for k in range(size.bit_length()) if (size >> k) & 1])
    if event is None:
        rows = sql_rows(_HEAD_SQL)
    else:
        event.created_at = timezone.now()
        rows = sql_rows(_HEAD_EVENT_SQL, [event.kind, event.namespace, event.subject, json.dumps(event.payload),
                                          event.request_id, event.created_at])
    size = rows[0][0]
    if event is not None:
        event.id = rows[0][3]
        event._state.adding, event._state.db = False, connection.alias
    return size, {(lvl, (size >> lvl) - 1): bytes(h) for _, lvl, h, *_ in rows if h is not None}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def log_append(*, kind: str, payload: dict[str, Any], namespace: str = "", subject: str = "",
               event: Event | None = None) -> LogLeaf:
    """Append one entry, inside the transaction of the change it records: both commit or neither does.

    The leaf is the RFC 8785 form of ``{"kind", "integrated_at", **payload}``. Writes the leaf and every
    complete subtree it completes, and records the new root, so no later read rebuilds the tree. ``event``, an
    unsaved outbox row (``core.services.event_emit_logged``), is written in the same round trip as the log head.

    Under the lock (held until COMMIT, so every other append waits): the log head (+ event), a few hashes,
    one insert. The caller does everything that does not need the log's order before calling this.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("log_append must run inside the transaction of the change it records")
    clash = set(payload) & set(RESERVED_FIELDS)
    if clash:
        raise ValueError(f"payload may not set {sorted(clash)}: the log sets them")
    plain = check_value(payload)  # before the lock: a bad payload must not hold everyone up
    log_lock()
    size, known = _log_head(event)
    now = timezone.now()
    entry = {"kind": kind, "integrated_at": _iso(now), **payload}
    data = canonicalize(entry, plain=plain and kind.isascii())
    leaf = merkle.leaf_hash(data)

    # The new leaf completes one subtree per trailing 1-bit of its index; each needs its left sibling.
    top = (~size & (size + 1)).bit_length() - 1  # number of trailing 1-bits of size
    siblings = [(lvl, (size >> lvl) - 1) for lvl in range(top)]
    created = {(0, size): leaf}
    h = leaf
    for lvl, sib in siblings:
        h = merkle.node_hash(known[(lvl, sib)], h)
        created[(lvl + 1, size >> (lvl + 1))] = h
    known.update(created)
    root = merkle.root_from_nodes(size + 1, lambda nodes: {n: known[n] for n in nodes if n in known})

    row = LogLeaf(index=size, kind=kind, namespace=namespace, subject=subject, data=data, leaf_hash=leaf,
                  root_hash=root, integrated_at=now)
    if connection.vendor == "postgresql":
        # One statement for the leaf and its nodes (the ORM's two inserts cost more to compile than to run).
        sql_rows(_LEAF_SQL, [size, kind, namespace, subject, data, leaf, root, now, [lvl for lvl, _ in created],
                             [idx for _, idx in created], list(created.values())])
        row._state.adding, row._state.db = False, connection.alias
    else:
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
