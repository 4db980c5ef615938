"""The Merkle tree module against RFC 9162-style vectors and a second implementation; the
canonical JSON against the `rfc8785` package."""

from __future__ import annotations

import hashlib
import math

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.engine.audit.merkle import (
    Frontier,
    Tree,
    leaf_hash,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)
from clearline.engine.canonical import canonical_json, jcs_number

# The eight leaves of the certificate-transparency test suite and the roots of their prefixes.
LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
          "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_mth(leaves: list[bytes]) -> bytes:
    """MTH written again from RFC 9162 §2.1.1, recursively, over leaf hashes."""
    if not leaves:
        return _h(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return _h(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:]))


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, recursively."""
    if len(leaves) <= 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1, recursively."""
    n = len(leaves)
    if m == n:
        return [] if whole else [ref_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, leaves[:k], whole), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


def test_roots_of_the_transparency_vectors() -> None:
    leaves = [leaf_hash(bytes.fromhex(data)) for data in LEAVES]
    tree = Tree(leaves)
    edge = Frontier()
    for size, root in enumerate(ROOTS, start=1):
        edge.append(leaves[size - 1])
        assert tree.root(size).hex() == root == edge.root().hex()
    assert [p.hex()[:8] for p in tree.inclusion_proof(0, 8)] == ["96a296d2", "5f083f0a", "6b47aaf2"]
    assert [p.hex()[:8] for p in tree.consistency_proof(6, 8)] == [
        "0ebc5d34",
        "ca854ea1",
        "d37ee418",
    ]
    assert [p.hex()[:8] for p in tree.consistency_proof(2, 5)] == ["5f083f0a", "bc1a0643"]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 70), st.data())
def test_proofs_equal_a_second_implementation_and_verify(size: int, data: st.DataObject) -> None:
    leaves = [leaf_hash(str(n).encode()) for n in range(size)]
    tree = Tree(leaves)
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    assert tree.root() == ref_mth(leaves)
    proof = tree.inclusion_proof(index, size)
    assert proof == ref_path(index, leaves)
    assert verify_inclusion(leaves[index], index, size, proof, tree.root())
    consistency = tree.consistency_proof(old, size)
    assert consistency == ref_subproof(old, leaves, True)
    assert verify_consistency(old, size, tree.root(old), tree.root(), consistency)
    # any flipped bit in a proof, or a wrong index or size, is refused
    if proof:
        bad = [bytearray(p) for p in proof]
        bad[data.draw(st.integers(0, len(bad) - 1))][0] ^= 1
        assert not verify_inclusion(
            leaves[index], index, size, [bytes(b) for b in bad], tree.root()
        )
    if size > 1:
        assert root_from_inclusion(leaves[index], (index + 1) % size, size, proof) != tree.root()
    if consistency:
        bad = [bytearray(p) for p in consistency]
        bad[data.draw(st.integers(0, len(bad) - 1))][-1] ^= 0x80
        assert not verify_consistency(
            old, size, tree.root(old), tree.root(), [bytes(b) for b in bad]
        )


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 300))
def test_the_edge_kept_in_meta_reads_back(size: int) -> None:
    edge = Frontier()
    for n in range(size):
        edge.append(leaf_hash(n.to_bytes(4, "big")))
    again = Frontier.from_text(edge.to_text())
    assert again.size == size and again.root() == edge.root()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=["Cs"]), max_size=4), inner, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_json_is_rfc8785(value: object) -> None:
    assert canonical_json(value).encode() == rfc8785.dumps(value)


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_are_written_as_ecmascript_writes_them(value: float) -> None:
    assert jcs_number(value) == rfc8785.dumps(value).decode()
    assert float(jcs_number(value)) == value or (value == 0 and math.copysign(1, value) < 0)
