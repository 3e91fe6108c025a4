"""Verification of stored versions against the trust store as it is now, chain included.

The signature check of a stored record never changes (bytes and signature are immutable), so it is
memoised by (content hash, alg, public key, sig); the chain walk reads the trust snapshot, which is rebuilt
whenever TrustState.version moves, so a revocation shows on the very next read.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from action_registry import crypto
from action_registry.errors import SignatureError
from governance.selectors import TrustSnapshot, chain_evaluate, trust_snapshot


@lru_cache(maxsize=65536)
def _signature_check(content_hash: str, alg: str, public_key: str, sig: str, canonical: bytes) -> str | None:
    """None when valid, else the reason code. ``content_hash`` is in the key so the bytes are not compared."""
    try:
        crypto.verify(alg, public_key, canonical, sig)
    except SignatureError as exc:
        return exc.code
    return None


def signature_reason(*, content_hash: str, canonical: bytes, alg: str, public_key: str, sig: str) -> str | None:
    return _signature_check(content_hash, alg, public_key, sig, bytes(canonical))


def verification_result(*, content_hash: str, canonical: bytes, kid: str, alg: str, sig: str, name: str,
                        published_at: datetime, snapshot: TrustSnapshot | None = None) -> dict:
    """``{verified, kid, alg, key_status, chain, reason?, failed_kid?, message?}`` for one stored record."""
    snapshot = snapshot or trust_snapshot()
    result: dict = {"verified": True, "kid": kid, "alg": alg}
    key = snapshot.get(kid, alg)
    if key is None:
        reason = "alg_mismatch" if snapshot.by_kid(kid) else "unknown_kid"
        return {**result, "verified": False, "key_status": "unknown", "chain": [], "reason": reason,
                "failed_kid": kid, "message": f"the trust store has no {alg} key {kid}"}
    reason = signature_reason(content_hash=content_hash, canonical=canonical, alg=alg,
                              public_key=key.public_key, sig=sig)
    chain = chain_evaluate(kid=kid, alg=alg, name=name, at=published_at, snapshot=snapshot)
    result.update(key_status=chain.key_status, chain=chain.chain)
    if reason:
        return {**result, "verified": False, "reason": reason, "failed_kid": kid,
                "message": "the signature does not verify against the stored bytes"}
    if not chain.ok:
        return {**result, "verified": False, "reason": chain.reason, "failed_kid": chain.failed_kid,
                "message": chain.message}
    return result
