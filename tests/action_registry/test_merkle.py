"""RFC 6962/9162 Merkle hashing and proofs: published test vectors, corruption probes and property tests."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from action_registry import merkle
from action_registry.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

# --- vectors ----------------------------------------------------------------------------------------
# Source: transparency-dev/merkle, rfc6962/rfc6962_test.go (TestRFC6962Hasher), Apache-2.0.
HASHER_VECTORS = [
    ("empty root", EMPTY_ROOT, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("empty leaf", leaf_hash(b""), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    ("leaf L123456", leaf_hash(b"L123456"), "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"),
    ("node N123 N456", node_hash(b"N123", b"N456"),
     "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"),
]

# Source: transparency-dev/merkle, proof/verify_test.go (leaves, roots, inclusionProofs, consistencyProofs),
# originally the Certificate Transparency C++/Go test data. Leaf i is the i-th byte string below.
LEAVES = [h(""), h("00"), h("10"), h("2021"), h("3031"), h("40414243"), h("5051525354555657"),
          h("606162636465666768696a6b6c6d6e6f")]
ROOTS = [h(x) for x in (  # ROOTS[n - 1] is the root of the first n leaves
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
# (1-based leaf number, tree size, proof) exactly as in the Go source.
INCLUSION = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

TREE = MemoryTree(leaf_hash(d) for d in LEAVES)


@pytest.mark.parametrize(("desc", "got", "want"), HASHER_VECTORS, ids=[v[0] for v in HASHER_VECTORS])
def test_hasher_vectors(desc, got, want):
    assert got.hex() == want


def test_roots_of_every_prefix():
    for n in range(1, 9):
        assert TREE.root(n) == ROOTS[n - 1]
        assert merkle.root_from_leaf_hashes([leaf_hash(d) for d in LEAVES[:n]]) == ROOTS[n - 1]
    assert TREE.root(0) == EMPTY_ROOT


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_vectors_generate_and_verify(leaf, size, proof):
    proof = [h(p) for p in proof]
    assert inclusion_proof(leaf - 1, size, TREE.fetch) == proof
    verify_inclusion(leaf - 1, size, leaf_hash(LEAVES[leaf - 1]), proof, ROOTS[size - 1])


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_vectors_generate_and_verify(first, second, proof):
    proof = [h(p) for p in proof]
    assert consistency_proof(first, second, TREE.fetch) == proof
    verify_consistency(first, second, proof, ROOTS[first - 1], ROOTS[second - 1])


def _inclusion_probes(index, size, proof, root, leaf):
    """The corruptions transparency-dev's verify_test.go (corruptInclusionProof) applies to good proofs."""
    probes = [
        (index - 1, size, root, leaf, proof), (index + 1, size, root, leaf, proof),
        (index ^ 2, size, root, leaf, proof), (index, size * 2, root, leaf, proof),
        (index, size // 2, root, leaf, proof), (index, size, root, b"WrongLeaf", proof),
        (index, size, EMPTY_ROOT, leaf, proof), (index, size, SOME_HASH, leaf, proof),
        (index, size, root, leaf, [*proof, b""]), (index, size, root, leaf, [*proof, root]),
        (index, size, root, leaf, [b"", *proof]), (index, size, root, leaf, [root, *proof]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, root, leaf, flipped))
    if proof:
        probes.append((index, size, root, leaf, proof[:-1]))
    if len(proof) > 1:
        probes.append((index, size, root, leaf, [proof[0], SOME_HASH, *proof[1:]]))
    return probes


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_corruptions_are_refused(leaf, size, proof):
    proof = [h(p) for p in proof]
    for probe in _inclusion_probes(leaf - 1, size, proof, ROOTS[size - 1], leaf_hash(LEAVES[leaf - 1])):
        with pytest.raises(ProofError):
            verify_inclusion(*probe[:2], probe[3], probe[4], probe[2])


def _consistency_probes(first, second, root1, root2, proof):
    """transparency-dev's corruptConsistencyProof."""
    probes = [
        (first - 1, second, root1, root2, proof), (first + 1, second, root1, root2, proof),
        (first ^ 2, second, root1, root2, proof), (first, second * 2, root1, root2, proof),
        (first, second // 2, root1, root2, proof), (first, second, b"WrongRoot", root2, proof),
        (first, second, root1, b"WrongRoot", proof), (first, second, root2, root1, proof),
        (first, second, root1, root2, []), (first, second, root1, root2, [*proof, b""]),
        (first, second, root1, root2, [*proof, root1]), (first, second, root1, root2, [*proof, root2]),
        (first, second, root1, root2, [b"", *proof]), (first, second, root1, root2, [root1, *proof]),
        (first, second, root1, root2, [root2, *proof]), (first, second, root1, root2, [proof[0], *proof]),
        (first, second, root1, root2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((first, second, root1, root2, flipped))
    return probes


@pytest.mark.parametrize(("first", "second", "proof"), [c for c in CONSISTENCY if c[2]])
def test_consistency_corruptions_are_refused(first, second, proof):
    proof = [h(p) for p in proof]
    for a, b, r1, r2, p in _consistency_probes(first, second, ROOTS[first - 1], ROOTS[second - 1], proof):
        with pytest.raises((ProofError, ValueError)):
            verify_consistency(a, b, p, r1, r2)


# transparency-dev TestVerifyConsistency edge cases: (first, second, root1, root2, proof, ok)
R1, R2 = hashlib.sha256(b"don't care 1").digest(), hashlib.sha256(b"don't care 2").digest()
EDGE_CASES = [
    (0, 0, R1, R2, [], False), (1, 1, R1, R2, [], False),
    (0, 0, R1, R1, [], True), (0, 1, R1, R2, [], True), (1, 1, R2, R2, [], True),
    (1, 0, R1, R2, [], False), (2, 1, R1, R2, [], False), (1, 2, R1, R2, [], False),
    (0, 0, EMPTY_ROOT, R2, [], False), (1, 1, EMPTY_ROOT, R2, [], False),
    (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False), (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
    (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
]


@pytest.mark.parametrize(("first", "second", "root1", "root2", "proof", "ok"), EDGE_CASES)
def test_consistency_edge_cases(first, second, root1, root2, proof, ok):
    if ok:
        verify_consistency(first, second, proof, root1, root2)
    else:
        with pytest.raises(ProofError):
            verify_consistency(first, second, proof, root1, root2)


def test_inclusion_edge_cases():
    # transparency-dev TestVerifyInclusion / TestVerifyInclusionSingleEntry.
    for index, size in ((0, 0), (0, 1), (1, 0), (2, 1)):
        for leaf, root in ((SOME_HASH, b""), (b"", EMPTY_ROOT), (SOME_HASH, EMPTY_ROOT)):
            with pytest.raises(ProofError):
                verify_inclusion(index, size, leaf, [], root)
    single = leaf_hash(b"data")
    verify_inclusion(0, 1, single, [], single)
    for leaf, root in ((single, b""), (b"", single), (b"", b"")):
        with pytest.raises(ProofError):
            verify_inclusion(0, 1, leaf, [], root)


def test_missing_node_is_a_storage_error_not_a_wrong_proof():
    with pytest.raises(ProofError) as err:
        inclusion_proof(0, 8, lambda nodes: {})
    assert err.value.code == "log_storage_incomplete"


def test_range_nodes_decomposes_into_aligned_subtrees():
    assert merkle.range_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert merkle.range_nodes(4, 7) == [(1, 2), (0, 6)]
    assert merkle.range_nodes(5, 5) == []


# --- properties -------------------------------------------------------------------------------------

def _naive_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1 written as the recursion, as an independent reference."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_naive_mth(leaves[:k]), _naive_mth(leaves[k:]))


def _naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_naive_path(m, leaves[:k]), _naive_mth(leaves[k:])]
    return [*_naive_path(m - k, leaves[k:]), _naive_mth(leaves[:k])]


def _naive_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [_naive_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_naive_subproof(m, leaves[:k], b), _naive_mth(leaves[k:])]
    return [*_naive_subproof(m - k, leaves[k:], False), _naive_mth(leaves[:k])]


BIG = MemoryTree(leaf_hash(i.to_bytes(4, "big")) for i in range(3000))
BIG_LEAVES = BIG.levels[0]
BIG_ROOTS = [EMPTY_ROOT]
_compact = CompactRange()
for _leaf in BIG_LEAVES:
    _compact.append(_leaf)
    BIG_ROOTS.append(_compact.root())


def test_roots_match_the_naive_recursion_for_small_trees():
    for n in range(0, 70):
        assert BIG_ROOTS[n] == _naive_mth(BIG_LEAVES[:n]) == BIG.root(n)


def test_all_pairs_up_to_256_leaves():
    """Inclusion for every (index, size) and consistency for every (first, second) with size <= 256."""
    for size in range(1, 257):
        root = BIG_ROOTS[size]
        for index in range(size):
            proof = inclusion_proof(index, size, BIG.fetch)
            verify_inclusion(index, size, BIG_LEAVES[index], proof, root)
        for first in range(0, size + 1):
            proof = consistency_proof(first, size, BIG.fetch)
            verify_consistency(first, size, proof, BIG_ROOTS[first], root)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_inclusion_sampled_to_3000(case):
    size, index = case
    proof = inclusion_proof(index, size, BIG.fetch)
    if size <= 200:
        assert proof == _naive_path(index, BIG_LEAVES[:size])
    verify_inclusion(index, size, BIG_LEAVES[index], proof, BIG_ROOTS[size])
    with pytest.raises(ProofError):  # the proof binds the leaf: any other leaf fails
        verify_inclusion(index, size, BIG_LEAVES[(index + 1) % 3000], proof, BIG_ROOTS[size])


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3000).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_consistency_sampled_to_3000(case):
    first, second = case
    proof = consistency_proof(first, second, BIG.fetch)
    if second <= 200 and first < second:
        assert proof == _naive_subproof(first, BIG_LEAVES[:second], True)
    verify_consistency(first, second, proof, BIG_ROOTS[first], BIG_ROOTS[second])
    if first < second:  # a different history of the same size is refused
        with pytest.raises(ProofError):
            verify_consistency(first, second, proof, leaf_hash(b"forged"), BIG_ROOTS[second])


@given(st.integers(0, 2000), st.integers(0, 2000))
def test_compact_range_roundtrip(a, b):
    """A compact range saved as (size, hashes) and restored keeps appending to the same roots."""
    a, b = min(a, b), max(a, b)
    saved = CompactRange()
    for leaf in BIG_LEAVES[:a]:
        saved.append(leaf)
    restored = CompactRange(saved.size, saved.hashes)
    for leaf in BIG_LEAVES[a:b]:
        restored.append(leaf)
    assert restored.root() == BIG_ROOTS[b]
