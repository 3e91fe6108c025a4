"""Reads of the trust store as a hierarchy: a key's chain up to its root, and the whole tree for the trust page."""

from __future__ import annotations

from dataclasses import dataclass, field

from governance.models import SigningKey

MAX_CHAIN_DEPTH = 16  # far beyond root -> org -> signing; stops a corrupt parent loop


def signing_key_chain(*, key: SigningKey) -> list[SigningKey]:
    """``[key, parent, ..., root]``. Ancestors come three levels per query (one query for usual chains)."""
    parent_field = SigningKey._meta.get_field("parent")
    chain = [key]
    current = key
    while current.parent_id is not None and len(chain) < MAX_CHAIN_DEPTH:
        if not parent_field.is_cached(current):
            parent = SigningKey.objects.select_related("parent__parent").get(pk=current.parent_id)
            parent_field.set_cached_value(current, parent)
        current = current.parent
        if any(k.pk == current.pk for k in chain):
            break
        chain.append(current)
    return chain


@dataclass
class KeyNode:
    key: SigningKey
    children: list[KeyNode] = field(default_factory=list)


def signing_key_tree() -> list[KeyNode]:
    """Every key once, under its parent; keys whose parent is missing show as roots. One query."""
    keys = list(SigningKey.objects.order_by("kid", "alg"))
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
