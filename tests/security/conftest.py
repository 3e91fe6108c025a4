"""Helpers for the attack tests: signing bytes the CLI would refuse to sign (an attacker is not bound by it)."""

from __future__ import annotations

from action_registry import crypto
from action_registry.canonical import canonicalize


def raw_envelope(signer, doc: dict, *, kid: str | None = None, alg: str | None = None) -> dict:
    """Sign the RFC 8785 bytes of ``doc`` without validating it first (unlike ``Signer.sign``)."""
    return {"action": doc, "signature": {"kid": kid or signer.kid, "alg": alg or signer.alg,
                                         "sig": crypto.sign(signer.private_key, canonicalize(doc))}}


# The two-registry set-up of tests/federation, for the mirror mix-and-match attacks.
from tests.federation.conftest import upstream  # noqa: E402, F401
from tests.governance.test_chains import reviewer, tree  # noqa: E402, F401
