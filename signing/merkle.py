"""A Merkle tree over a batch of things the axis seals under one signature (status 01 packages,
ballot receipts): the axis signs the root once, and each item carries its path up to it. Hashes
(hex):

* leaf = SHA-256 of the byte 0x00 followed by the item's bytes;
* node = SHA-256 of the byte 0x01 followed by the left and the right child's 32-byte digests;
* a node without a sibling on its level moves up unchanged.

The two prefixes keep a leaf from passing for a node (as in RFC 6962), so anyone can recompute
the root from an item and its path without this code."""

from __future__ import annotations

import hashlib

#: The rules above in words, as sealed documents carry them.
HASHING = {
    "node": "SHA-256 of the byte 0x01 followed by the left and the right child's digests (32 bytes each)",
    "odd": "a node without a sibling on its level moves up unchanged",
    "path": "from the leaf up: each step names the sibling's side (left or right) and its hash",
}


def leaf_hash(item: bytes) -> str:
    return hashlib.sha256(b"\x00" + item).hexdigest()


def node_hash(left: str, right: str) -> str:
    return hashlib.sha256(b"\x01" + bytes.fromhex(left) + bytes.fromhex(right)).hexdigest()


def merkle_tree(leaves: list[str]) -> tuple[str, list[list[dict[str, str]]]]:
    """The root over `leaves` (leaf hashes, in order) and each leaf's path to it."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    paths: list[list[dict[str, str]]] = [[] for _ in leaves]
    # Which leaves sit under each node of the current level.
    level = list(leaves)
    under: list[list[int]] = [[i] for i in range(len(leaves))]
    while len(level) > 1:
        next_level: list[str] = []
        next_under: list[list[int]] = []
        for i in range(0, len(level), 2):
            if i + 1 == len(level):
                next_level.append(level[i])
                next_under.append(under[i])
                continue
            left, right = level[i], level[i + 1]
            for leaf in under[i]:
                paths[leaf].append({"side": "right", "hash": right})
            for leaf in under[i + 1]:
                paths[leaf].append({"side": "left", "hash": left})
            next_level.append(node_hash(left, right))
            next_under.append(under[i] + under[i + 1])
        level, under = next_level, next_under
    return level[0], paths


def root_from_path(leaf: str, path: list[dict[str, str]]) -> str:
    """The root a leaf's path leads to (ValueError for a step that is neither left nor right)."""
    node = leaf
    for step in path:
        sibling = str(step["hash"])
        if step["side"] == "left":
            node = node_hash(sibling, node)
        elif step["side"] == "right":
            node = node_hash(node, sibling)
        else:
            raise ValueError(f"a path step's side is left or right, not {step['side']!r}")
    return node
