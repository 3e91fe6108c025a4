"""Reads of the trust store as a hierarchy (the whole tree of keys for the trust page), and its stamp for joins."""

from __future__ import annotations

from dataclasses import dataclass, field

from governance.models import SigningKey, TrustState


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


def trust_stamp_join(alias: str) -> tuple[str, str]:
    """``(columns, join)`` SQL fragments that add the trust stamp (TrustState version and change time, the
    ``TrustSnapshot.stamp`` of governance.selectors) to another read, so a hot path needs no query of its own
    for it. NULLs when the row does not exist yet (stamp ``(0, None)``)."""
    return (f"{alias}.version, {alias}.changed_at",
            f"LEFT JOIN {TrustState._meta.db_table} {alias} ON {alias}.id = 1")
