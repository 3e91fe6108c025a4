"""RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs: generation and verification."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from .errors import RegistryError

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

# A complete subtree: (level, index) covers leaves [index * 2**level, (index + 1) * 2**level).
Node = tuple[int, int]
# Batch lookup of complete-subtree hashes, so a server can answer from stored nodes in one query.
NodeFetcher = Callable[[Collection[Node]], Mapping[Node, bytes]]


class ProofError(RegistryError):
    """A Merkle proof, root or tree size did not check out."""

    code = "proof_invalid"
    status = 422
    default_suggestion = "Fetch a fresh proof for the same tree size; if it fails again the log is not consistent."


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    """MTH of a whole list of leaf hashes, by folding a compact range (O(n) time, O(log n) memory)."""
    frontier = CompactRange()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


# --- which subtrees a proof needs -------------------------------------------------------------------

def range_nodes(start: int, end: int) -> list[Node]:
    """Decompose leaves [start, end) into maximal aligned complete subtrees, left to right."""
    if not 0 <= start <= end:
        raise ValueError(f"bad leaf range [{start}, {end})")
    nodes: list[Node] = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << level) > end:
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def _fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a left-aligned range from its complete subtrees: hash them together right to left."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose MTHs make up PATH(index, D[size]) (RFC 9162 2.1.3.1), in proof order."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}", code="proof_out_of_range")
    lo, hi, out = 0, size, []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    return out[::-1]


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """Leaf ranges whose MTHs make up PROOF(first, D[second]) (RFC 9162 2.1.4.1), in proof order."""
    if not 0 <= first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}", code="proof_out_of_range")
    if first in (0, second):
        return []
    lo, hi, complete, out = 0, second, True, []
    while first != hi:
        k = _split(hi - lo)
        if first <= lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            complete = False
    if not complete:
        out.append((lo, hi))
    return out[::-1]


def range_hashes(ranges: Sequence[tuple[int, int]], fetch: NodeFetcher) -> list[bytes]:
    """MTH of each left-aligned leaf range (a proof element, or (0, size) for a root), from one batch fetch."""
    if any(a >= b for a, b in ranges):
        raise ValueError("empty leaf range")
    per_range = [range_nodes(a, b) for a, b in ranges]
    wanted = {node for nodes in per_range for node in nodes}
    found = fetch(wanted) if wanted else {}
    missing = wanted - found.keys()
    if missing:
        raise ProofError(f"{len(missing)} tree node(s) missing from storage, e.g. {sorted(missing)[0]}",
                         code="log_storage_incomplete", status=500,
                         suggestion="The log's node table is incomplete; operators must rebuild it.")
    return [_fold([bytes(found[n]) for n in nodes]) for nodes in per_range]


def inclusion_proof(index: int, size: int, fetch: NodeFetcher) -> list[bytes]:
    """The audit path for leaf ``index`` in the tree of ``size`` leaves."""
    return range_hashes(inclusion_ranges(index, size), fetch)


def consistency_proof(first: int, second: int, fetch: NodeFetcher) -> list[bytes]:
    """The proof that the tree of ``first`` leaves is a prefix of the tree of ``second`` leaves."""
    return range_hashes(consistency_ranges(first, second), fetch)


def root_nodes(size: int) -> list[Node]:
    return range_nodes(0, size)


def root_from_nodes(size: int, fetch: NodeFetcher) -> bytes:
    """MTH of the first ``size`` leaves from at most log2(size)+1 stored complete subtrees."""
    if size == 0:
        return EMPTY_ROOT
    return range_hashes([(0, size)], fetch)[0]


class MemoryTree:
    """All complete-subtree hashes of a list of leaf hashes, kept in memory (tests, small tools)."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, leaf: bytes) -> list[tuple[Node, bytes]]:
        """Add a leaf hash; return every complete subtree the leaf completes (itself first)."""
        index, created, h = self.size, [], leaf
        for level in range(index.bit_length() + 1):
            if level == len(self.levels):
                self.levels.append([])
            self.levels[level].append(h)
            created.append(((level, index >> level), h))
            if not (index >> level) & 1:
                break
            h = node_hash(self.levels[level][(index >> level) - 1], h)
        return created

    def fetch(self, nodes: Collection[Node]) -> dict[Node, bytes]:
        return {(lvl, i): self.levels[lvl][i] for lvl, i in nodes
                if lvl < len(self.levels) and i < len(self.levels[lvl])}

    def root(self, size: int | None = None) -> bytes:
        return root_from_nodes(self.size if size is None else size, self.fetch)


class CompactRange:
    """The right edge of a tree: one hash per set bit of its size. Enough to append leaves and get the root,
    so a monitor can check that the entries it downloaded hash to a checkpoint's root."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ProofError(f"a compact range of size {size} has {bin(size).count('1')} hashes, got {len(hashes)}",
                             code="compact_range_invalid")
        self.size = size
        self.hashes = list(hashes)  # complete subtrees left to right: largest first

    def append(self, leaf: bytes) -> None:
        h, size = leaf, self.size
        while size & 1:  # merge equal-sized subtrees, like carrying in binary addition
            h = node_hash(self.hashes.pop(), h)
            size >>= 1
        self.hashes.append(h)
        self.size += 1

    def root(self) -> bytes:
        return _fold(self.hashes) if self.hashes else EMPTY_ROOT


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2) ------------------------------------------------------

def _check_hashes(*hashes: bytes) -> None:
    for h in hashes:
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise ProofError("a hash in the proof is not 32 bytes", code="proof_malformed")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Run RFC 9162 2.1.3.2 and return the root it computes (or raise when the proof's shape is wrong)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}", code="proof_out_of_range")
    _check_hashes(leaf, *proof)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep", code="proof_invalid")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep", code="proof_invalid")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ``ProofError`` unless ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree with ``root``."""
    _check_hashes(root)
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError(f"the inclusion proof for leaf {index} does not lead to the root of tree size {size}",
                         code="proof_invalid")


def verify_consistency(first: int, second: int, proof: Sequence[bytes], first_root: bytes,
                       second_root: bytes) -> None:
    """Raise ``ProofError`` unless the tree (first, first_root) is a prefix of (second, second_root)."""
    _check_hashes(first_root, second_root, *proof)
    if not 0 <= first <= second:
        raise ProofError(f"size {second} is smaller than size {first}: a log never shrinks",
                         code="proof_out_of_range")
    if first == second:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty", code="proof_invalid")
        if first_root != second_root:
            raise ProofError(f"two different roots for tree size {first}", code="proof_invalid")
        return
    if first == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty", code="proof_invalid")
        return
    if not proof:
        raise ProofError("the consistency proof is empty", code="proof_invalid")
    path = list(proof)
    if first & (first - 1) == 0:  # first is a power of two: its root is a node of the second tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than needed", code="proof_invalid")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise ProofError(f"tree size {first} is not a prefix of tree size {second} with these roots",
                         code="proof_invalid")
