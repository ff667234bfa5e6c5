"""Merkle trees as RFC 6962 / RFC 9162 define them, for the transparency log.

leaf hash = SHA-256(0x00 || leaf), node hash = SHA-256(0x01 || left || right);
the tree over n leaves splits at the largest power of two below n.

Storage never needs more than the hashes of *complete* subtrees: the node
(level, index) covers leaves [index * 2**level, (index + 1) * 2**level).
Every subtree RFC 6962 ever hashes is either such a node or a right edge
whose hash folds O(log n) of them, so roots and proofs for any tree size
read O(log n) stored hashes (`NodeReader`), never the leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from . import _primitives as p
from .errors import VaultError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "InvalidProof",
    "NodeId",
    "NodeReader",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_hash",
    "root_of",
    "roots_at_sizes",
    "subtree_nodes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = p.sha256(b"")

NodeId = tuple[int, int]
"""(level, index) of a complete subtree; level 0 holds the leaf hashes."""

NodeReader = Callable[[Collection[NodeId]], Mapping[NodeId, bytes]]
"""Returns the stored hashes of the requested complete subtrees (at least those)."""

_Range = tuple[int, int]


class InvalidProof(VaultError):
    """A Merkle inclusion or consistency proof that does not hold."""


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf)."""
    if not isinstance(leaf, bytes):
        raise TypeError("a leaf must be bytes")
    return p.sha256(b"\x00" + leaf)


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return p.sha256(b"\x01" + left + right)


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_size(size: int, name: str = "size") -> None:
    if type(size) is not int:
        raise TypeError(f"{name} must be an int")
    if size < 0:
        raise ValueError(f"{name} must not be negative")


def subtree_nodes(start: int, end: int) -> list[NodeId]:
    """The complete subtrees that make up the RFC 6962 subtree [start, end),
    left to right (largest first)."""
    nodes: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start % (1 << level):
            raise ValueError(f"[{start}, {end}) is not a subtree of an RFC 6962 tree")
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of a right-edge subtree from its complete parts (left to right)."""
    if len(hashes) == 1:  # a complete subtree: most ranges of a proof
        return hashes[0]
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _range_hashes(ranges: Sequence[_Range], read: NodeReader) -> list[bytes]:
    parts = [subtree_nodes(a, b) for a, b in ranges]
    wanted = {node for nodes in parts for node in nodes}
    got = read(wanted) if wanted else {}
    try:
        return [_fold([got[node] for node in nodes]) for nodes in parts]
    except KeyError as exc:
        raise LookupError(f"the node store lacks subtree {exc.args[0]}") from None


def root_hash(size: int, read: NodeReader) -> bytes:
    """The root of the tree of the first `size` leaves."""
    _check_size(size)
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes([(0, size)], read)[0]


def _path(index: int, start: int, end: int) -> list[_Range]:
    """RFC 6962 PATH(m, D[start:end]) as subtree ranges, leaf side first.

    The RFC's recursion, unrolled: each step down the tree keeps the half
    that holds the leaf and records the other half, so the ranges come out
    root side first and are reversed at the end. (An intake computes one
    of these per receipt.)"""
    ranges: list[_Range] = []
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def _subproof(m: int, start: int, end: int, complete: bool) -> list[_Range]:
    """RFC 6962 SUBPROOF(m, D[start:end], b) as subtree ranges."""
    if m == end - start:
        return [] if complete else [(start, end)]
    k = _split(end - start)
    if m <= k:
        return [*_subproof(m, start, start + k, complete), (start + k, end)]
    return [*_subproof(m - k, start + k, end, False), (start, start + k)]


def inclusion_proof(index: int, size: int, read: NodeReader) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `size` leaves (RFC 9162 2.1.3.1)."""
    _check_size(size)
    _check_size(index, "index")
    if index >= size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    return _range_hashes(_path(index, 0, size), read)


def consistency_proof(first: int, second: int, read: NodeReader) -> list[bytes]:
    """The proof that the tree of `first` leaves is a prefix of the tree of
    `second` leaves (RFC 9162 2.1.4.1); empty when first is 0 or equals second."""
    _check_size(first, "first")
    _check_size(second, "second")
    if first > second:
        raise ValueError(f"a tree of {first} leaves cannot be a prefix of one of {second}")
    if first in (0, second):
        return []
    return _range_hashes(_subproof(first, 0, second, True), read)


def _check_hashes(proof: Sequence[bytes], *others: bytes) -> None:
    for h in (*proof, *others):
        if not isinstance(h, bytes):
            raise TypeError("hashes must be bytes")
        if len(h) != HASH_SIZE:
            raise ValueError("a hash is 32 bytes")


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that `leaf` (a leaf hash) is leaf `index` of the tree of `size`
    leaves with `root` (RFC 9162 2.1.3.2); raise InvalidProof otherwise."""
    _check_size(size)
    _check_size(index, "index")
    _check_hashes(proof, leaf, root)
    if index >= size:
        raise InvalidProof(f"leaf index {index} is outside a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for h in proof:
        if sn == 0:
            raise InvalidProof("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(h, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, h)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("the inclusion proof is shorter than the tree is deep")
    if r != root:
        raise InvalidProof("the inclusion proof does not lead to the root")


def verify_consistency(first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes) -> None:
    """Check that the tree of `first` leaves with `first_root` is a prefix of
    the tree of `second` leaves with `second_root` (RFC 9162 2.1.4.2)."""
    _check_size(first, "first")
    _check_size(second, "second")
    _check_hashes(proof, first_root, second_root)
    if first > second:
        raise InvalidProof(f"a tree of {first} leaves cannot precede one of {second}")
    if first == second:
        if proof or first_root != second_root:
            raise InvalidProof("two trees of the same size must have the same root and an empty proof")
        return
    if first == 0:
        if proof or first_root != EMPTY_ROOT:
            raise InvalidProof("the empty tree's consistency proof is empty")
        return
    if not proof:
        raise InvalidProof("the consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProof("the consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise InvalidProof("the consistency proof does not connect the two roots")


class CompactRange:
    """The right frontier of a growing tree: the complete subtrees that make
    up [0, size), largest first. Appending a leaf is O(1) amortised and says
    which complete subtrees it finished, so a store can keep them; `root()`
    folds O(log n) hashes."""

    __slots__ = ("_hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        _check_size(size)
        if len(hashes) != size.bit_count():
            raise ValueError("a compact range holds one hash per set bit of its size")
        _check_hashes(hashes)
        self.size = size
        self._hashes = list(hashes)

    @classmethod
    def load(cls, size: int, read: NodeReader) -> CompactRange:
        """The frontier of a stored tree of `size` leaves."""
        _check_size(size)
        nodes = subtree_nodes(0, size)
        got = read(nodes) if nodes else {}
        try:
            return cls(size, [got[node] for node in nodes])
        except KeyError as exc:
            raise LookupError(f"the node store lacks subtree {exc.args[0]}") from None

    def append(self, leaf: bytes) -> list[tuple[NodeId, bytes]]:
        """Add a leaf hash; return the complete subtrees it finished, the leaf first."""
        _check_hashes((), leaf)
        index, level, h = self.size, 0, leaf
        finished = [((0, index), leaf)]
        while index & 1:
            h = node_hash(self._hashes.pop(), h)
            index >>= 1
            level += 1
            finished.append(((level, index), h))
        self._hashes.append(h)
        self.size += 1
        return finished

    def root(self) -> bytes:
        return _fold(self._hashes) if self._hashes else EMPTY_ROOT

    def nodes(self) -> list[tuple[NodeId, bytes]]:
        """The frontier's complete subtrees with their ids, largest first."""
        return list(zip(subtree_nodes(0, self.size), self._hashes, strict=True))

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self._hashes)


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """The root over a sequence of leaf hashes, in O(log n) memory."""
    frontier = CompactRange()
    for h in leaf_hashes:
        frontier.append(h)
    return frontier.root()


def roots_at_sizes(leaf_hashes: Sequence[bytes], sizes: Iterable[int]) -> dict[int, bytes]:
    """The root of the tree over the first `size` leaves, for each of `sizes`.

    Every complete subtree is hashed once, level by level (fewer than n node
    hashes in all, in tight loops), and each root then folds the O(log n)
    complete subtrees of its size. It holds about 2n hashes in memory: the
    price of checking many sizes in one pass, far faster than appending
    the leaves one by one to a `CompactRange`.
    """
    _check_hashes(leaf_hashes)
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    roots = {}
    for size in sizes:
        _check_size(size)
        if size > len(leaf_hashes):
            raise ValueError(f"size {size} exceeds the {len(leaf_hashes)} leaves given")
        nodes = subtree_nodes(0, size)
        roots[size] = _fold([levels[level][index] for level, index in nodes]) if nodes else EMPTY_ROOT
    return roots
