"""Helpers for the attack tests: signing bytes the CLI would refuse to sign (an attacker is not bound by it)."""

from __future__ import annotations

from action_registry import crypto
from action_registry.canonical import canonicalize

# Fixtures of the attack tests moved here from where the feature lives (they stay importable from there):
# the two-registry set-up, the snapshot root, the three-level key tree and a security reviewer.
from tests.federation.conftest import upstream  # noqa: F401
from tests.federation.test_snapshot import snapshot_root  # noqa: F401
from tests.governance.test_chains import reviewer, tree  # noqa: F401


def raw_envelope(signer, doc: dict, *, kid: str | None = None, alg: str | None = None) -> dict:
    """Sign the RFC 8785 bytes of ``doc`` without validating it first (unlike ``Signer.sign``)."""
    return {"action": doc, "signature": {"kid": kid or signer.kid, "alg": alg or signer.alg,
                                         "sig": crypto.sign(signer.private_key, canonicalize(doc))}}

