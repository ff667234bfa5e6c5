"""vault.merkle against RFC 6962's published vectors and against an
independent implementation of RFC 6962 section 2.1 written here in its
simplest recursive form (MTH, PATH, PROOF/SUBPROOF), straight from the text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tlog_verifier import _h, _k  # the RFC 6962 helpers of the independent verifier

from vault import merkle
from vault.merkle import CompactRange, InvalidProof

# ---- the independent reference: RFC 6962 section 2.1, recursion as written ----


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = _k(len(d))
    return _h(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


# ---- the implementation under test, over a node store built by appending ----


def stored(leaves: list[bytes]) -> tuple[dict[merkle.NodeId, bytes], merkle.NodeReader]:
    nodes: dict[merkle.NodeId, bytes] = {}
    frontier = CompactRange()
    for leaf in leaves:
        nodes.update(frontier.append(merkle.leaf_hash(leaf)))
    reads: list[int] = []

    def read(ids):
        reads.append(len(ids))
        return {i: nodes[i] for i in ids}

    read.calls = reads  # type: ignore[attr-defined]
    return nodes, read


CT_LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_roots_match_the_rfc_6962_reference_vectors():
    _nodes, read = stored(CT_LEAVES)
    for size, want in enumerate(CT_ROOTS):
        assert merkle.root_hash(size, read).hex() == want
        assert merkle.root_of(merkle.leaf_hash(x) for x in CT_LEAVES[:size]).hex() == want
        assert ref_mth(CT_LEAVES[:size]).hex() == want  # the reference is right too
    every_size = merkle.roots_at_sizes([merkle.leaf_hash(x) for x in CT_LEAVES], range(len(CT_ROOTS)))
    assert {size: root.hex() for size, root in every_size.items()} == dict(enumerate(CT_ROOTS))


def test_published_inclusion_and_consistency_proofs():
    _nodes, read = stored(CT_LEAVES)
    assert [h.hex() for h in merkle.inclusion_proof(5, 8, read)] == [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert [h.hex() for h in merkle.consistency_proof(2, 5, read)] == [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]


leaves_st = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@settings(max_examples=120, deadline=None)
@given(leaves=leaves_st, data=st.data())
def test_roots_at_many_sizes_match_the_reference(leaves, data):
    sizes = data.draw(st.sets(st.integers(0, len(leaves)), max_size=5))
    roots = merkle.roots_at_sizes([merkle.leaf_hash(x) for x in leaves], sizes)
    assert roots == {size: ref_mth(leaves[:size]) for size in sizes}
    with pytest.raises(ValueError):
        merkle.roots_at_sizes([merkle.leaf_hash(x) for x in leaves], {len(leaves) + 1})


@settings(max_examples=120, deadline=None)
@given(leaves=leaves_st, data=st.data())
def test_inclusion_proofs_match_the_reference_and_verify(leaves, data):
    n = len(leaves)
    size = data.draw(st.integers(1, n), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    _nodes, read = stored(leaves)
    root = merkle.root_hash(size, read)
    assert root == ref_mth(leaves[:size])
    proof = merkle.inclusion_proof(index, size, read)
    assert proof == ref_path(index, leaves[:size])
    merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, size, proof, root)


@settings(max_examples=120, deadline=None)
@given(leaves=leaves_st, data=st.data())
def test_consistency_proofs_match_the_reference_and_verify(leaves, data):
    n = len(leaves)
    second = data.draw(st.integers(1, n), label="second")
    first = data.draw(st.integers(1, second), label="first")
    _nodes, read = stored(leaves)
    proof = merkle.consistency_proof(first, second, read)
    if first < second:
        assert proof == ref_proof(first, leaves[:second])
    merkle.verify_consistency(first, second, proof, ref_mth(leaves[:first]), ref_mth(leaves[:second]))


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8 % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


@settings(max_examples=150, deadline=None)
@given(leaves=st.lists(st.binary(max_size=4), min_size=2, max_size=40, unique=True), data=st.data())
def test_any_altered_inclusion_input_fails(leaves, data):
    size = len(leaves)
    index = data.draw(st.integers(0, size - 1))
    _nodes, read = stored(leaves)
    root = merkle.root_hash(size, read)
    proof = merkle.inclusion_proof(index, size, read)
    leaf = merkle.leaf_hash(leaves[index])
    bit = data.draw(st.integers(0, 255))
    # Not "size": a path can fit two tree sizes with the same root (leaf 0 of 5 or of 6
    # leaves); what binds the size to the root is the signed checkpoint (test_note).
    what = data.draw(st.sampled_from(["leaf", "root", "proof", "index", "other_leaf", "drop", "extra"]))
    args = [leaf, index, size, list(proof), root]
    if what == "leaf":
        args[0] = _flip(leaf, bit)
    elif what == "root":
        args[4] = _flip(root, bit)
    elif what == "proof":
        if not proof:
            return
        i = data.draw(st.integers(0, len(proof) - 1))
        args[3][i] = _flip(proof[i], bit)
    elif what == "index":
        args[1] = data.draw(st.integers(0, size + 2).filter(lambda j: j != index))
    elif what == "other_leaf":
        args[0] = merkle.leaf_hash(leaves[(index + 1) % size])
    elif what == "drop":
        if not proof:
            return
        args[3] = proof[:-1]
    else:
        args[3] = [*proof, root]
    with pytest.raises(InvalidProof):
        merkle.verify_inclusion(*args)


@settings(max_examples=150, deadline=None)
@given(leaves=st.lists(st.binary(max_size=4), min_size=3, max_size=40, unique=True), data=st.data())
def test_any_altered_consistency_input_fails(leaves, data):
    second = len(leaves)
    first = data.draw(st.integers(1, second - 1))
    _nodes, read = stored(leaves)
    r1, r2 = merkle.root_hash(first, read), merkle.root_hash(second, read)
    proof = merkle.consistency_proof(first, second, read)
    bit = data.draw(st.integers(0, 255))
    what = data.draw(st.sampled_from(["r1", "r2", "proof", "first", "drop", "extra", "fork"]))
    args = [first, second, list(proof), r1, r2]
    if what == "r1":
        args[3] = _flip(r1, bit)
    elif what == "r2":
        args[4] = _flip(r2, bit)
    elif what == "proof":
        i = data.draw(st.integers(0, len(proof) - 1))
        args[2][i] = _flip(proof[i], bit)
    elif what == "first":
        args[0] = data.draw(st.integers(1, second - 1).filter(lambda f: f != first))
    elif what == "drop":
        args[2] = proof[:-1]
    elif what == "extra":
        args[2] = [*proof, r2]
    else:  # a fork: the second tree rewrites an early leaf
        forked = list(leaves)
        forked[0] = forked[0] + b"!"
        args[4] = ref_mth(forked)
    with pytest.raises(InvalidProof):
        merkle.verify_consistency(*args)


def test_proofs_read_logarithmically_many_nodes():
    leaves = [i.to_bytes(4, "big") for i in range(5000)]
    _nodes, read = stored(leaves)
    merkle.inclusion_proof(1234, 4999, read)
    merkle.consistency_proof(1234, 4999, read)
    merkle.root_hash(4999, read)
    assert max(read.calls) <= 2 * 13  # O(log n) nodes per request, never the leaves


@settings(max_examples=150, deadline=None)
@given(before=st.integers(0, 70), added=st.integers(1, 40))
def test_a_frontier_and_the_nodes_a_group_finishes_prove_the_groups_leaves(before, added):
    """What the intake keeps in memory per group commit suffices for its receipts."""
    leaves = [i.to_bytes(2, "big") for i in range(before + added)]
    _nodes, read = stored(leaves)
    frontier = CompactRange.load(before, read)
    group = dict(frontier.nodes())
    for leaf in leaves[before:]:
        group.update(frontier.append(merkle.leaf_hash(leaf)))
    size = before + added
    for index in range(before, size):
        assert merkle.inclusion_proof(index, size, lambda _ids: group) == ref_path(index, leaves)


def test_compact_range_reloads_from_stored_nodes():
    leaves = [bytes([i]) for i in range(23)]
    _nodes, read = stored(leaves)
    for size in range(24):
        frontier = CompactRange.load(size, read)
        assert frontier.root() == ref_mth(leaves[:size])
        if size < 23:
            frontier.append(merkle.leaf_hash(leaves[size]))
            assert frontier.root() == ref_mth(leaves[: size + 1])


def test_bad_arguments_raise_eagerly():
    _nodes, read = stored([b"a", b"b"])
    with pytest.raises(ValueError):
        merkle.inclusion_proof(2, 2, read)
    with pytest.raises(ValueError):
        merkle.consistency_proof(3, 2, read)
    with pytest.raises(TypeError):
        merkle.leaf_hash("text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        merkle.verify_inclusion(b"short", 0, 1, [], bytes(32))
    with pytest.raises(InvalidProof):
        merkle.verify_consistency(1, 2, [], bytes(32), bytes(32))
    with pytest.raises(LookupError):
        merkle.inclusion_proof(0, 2, lambda ids: {})
