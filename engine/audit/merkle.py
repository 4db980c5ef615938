"""The audit log's Merkle tree: RFC 9162 hashing, inclusion and consistency proofs.

Small pure functions over 32-byte hashes, written as RFC 9162 §2.1 writes them, so that an
auditor can re-implement them in another language from this file and the docs:

    leaf  = SHA-256(0x00 || entry)          node = SHA-256(0x01 || left || right)
    MTH of n > 1 leaves: node(MTH(first k), MTH(rest)), k the largest power of two below n

The standard library only: the audit writer process (run as a script) loads this file too,
to keep the tree's right edge (`Frontier`) as it appends. Storage and signing live elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(size: int) -> int:
    """The largest power of two strictly below `size` (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


class Tree:
    """The tree over a list of leaf hashes, with every perfect subtree's hash kept per level,
    so a proof costs O(log² n) hashes instead of O(n)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        level = self.levels[0]
        while len(level) > 1:
            level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            self.levels.append(level)

    @property
    def size(self) -> int:
        """How many leaves."""
        return len(self.levels[0])

    def hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end])."""
        width = end - start
        if width == 0:
            return EMPTY_ROOT
        height = width.bit_length() - 1
        if width == 1 << height and start % width == 0:  # a perfect, aligned subtree: kept
            return self.levels[height][start >> height]
        k = split(width)
        return node_hash(self.hash(start, start + k), self.hash(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """The root of the first `size` leaves (all by default)."""
        return self.hash(0, self.size if size is None else size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 §2.1.3.1 PATH(index, D[0:size])."""
        if not 0 <= index < size <= self.size:
            raise ValueError(f"no leaf {index} in a tree of {size}")
        return self._path(index, 0, size)

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return []
        k = split(end - start)
        if m < k:
            return [*self._path(m, start, start + k), self.hash(start + k, end)]
        return [*self._path(m - k, start + k, end), self.hash(start, start + k)]

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """RFC 9162 §2.1.4.1 PROOF(old, D[0:new])."""
        if not 0 < old <= new <= self.size:
            raise ValueError(f"no consistency proof from {old} to {new} leaves")
        return self._subproof(old, 0, new, True)

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [self.hash(start, end)]
        k = split(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, whole), self.hash(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self.hash(start, start + k)]


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2); None if it cannot hold."""
    if not 0 <= index < size:
        return None
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return None
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
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `proof` shows leaf number `index` in the tree of `size` leaves with `root`."""
    return root_from_inclusion(leaf, index, size, proof) == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows the tree of `old_size` leaves is a prefix of the tree of
    `new_size` (RFC 9162 §2.1.4.2)."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root starts the path
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
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
    return sn == 0 and fr == old_root and sr == new_root


class Frontier:
    """The right edge of a growing tree (the hashes of its perfect subtrees, largest first):
    enough to append leaves and compute the root without reading the leaves again."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a tree of {size} leaves has {bin(size).count('1')} edge hashes")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        hashes = self.hashes
        hashes.append(leaf)
        size = self.size
        while size & 1:  # each trailing 1 bit is a subtree of the new one's size: merge
            right = hashes.pop()
            hashes[-1] = node_hash(hashes[-1], right)
            size >>= 1
        self.size += 1

    def root(self) -> bytes:
        """The tree's root hash."""
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root

    def to_text(self) -> str:
        """`SIZE HEX HEX ...`, as the log keeps it in `meta`."""
        return " ".join([str(self.size), *(h.hex() for h in self.hashes)])

    @classmethod
    def from_text(cls, text: str) -> Frontier:
        """Read `to_text`'s form back; ValueError if it is not that."""
        size, *hashes = text.split(" ")
        if not (size.isascii() and size.isdigit()) or any(len(h) != 64 for h in hashes):
            raise ValueError(f"not a tree edge: {text[:80]!r}")
        return cls(int(size), [bytes.fromhex(h) for h in hashes])
