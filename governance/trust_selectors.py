"""Reads of the trust store as a hierarchy: the whole tree of keys for the trust page."""

from __future__ import annotations

from dataclasses import dataclass, field

from governance.models import SigningKey


@dataclass
class KeyNode:
    key: SigningKey
    children: list[KeyNode] = field(default_factory=list)


def signing_key_tree() -> list[KeyNode]:
    """Every key once, under its parent; keys whose parent is missing show as roots. One query."""
    keys = list(SigningKey.objects.select_related("reviewed_by").order_by("kid", "alg"))
    nodes = {k.id: KeyNode(key=k) for k in keys}
    roots = []
    for k in keys:
        parent = nodes.get(k.parent_id) if k.parent_id else None
        (parent.children if parent else roots).append(nodes[k.id])
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        seen.add(node.key.id)
        stack.extend(node.children)
    # A parent loop (which no service creates) would hide its keys: show them at the top instead.
    roots += [KeyNode(key=k) for k in keys if k.id not in seen]
    return roots
