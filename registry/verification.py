"""Verification of stored versions against the trust store as it is now.

The crypto result for a stored record never changes (the bytes and signature are immutable), so it is
memoised by (content hash, kid, alg, sig, public key); key status is read fresh on every call.
"""

from __future__ import annotations

from functools import lru_cache

from action_registry import crypto
from action_registry.errors import SignatureError
from governance.choices import KeyStatus
from governance.models import SigningKey


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


def verification_result(*, content_hash: str, canonical: bytes, kid: str, alg: str, sig: str,
                        key: SigningKey) -> dict:
    """``{verified, kid, alg, key_status, reason?}`` for one stored signature and its key as it is now."""
    result = {"verified": True, "kid": kid, "alg": alg, "key_status": key.status}
    if key.alg != alg:
        return {**result, "verified": False, "reason": "alg_mismatch"}
    reason = signature_reason(content_hash=content_hash, canonical=canonical, alg=alg,
                              public_key=key.public_key, sig=sig)
    if reason:
        return {**result, "verified": False, "reason": reason}
    if key.status == KeyStatus.REVOKED:
        return {**result, "verified": False, "reason": "key_revoked"}
    if key.status not in (KeyStatus.ACTIVE, KeyStatus.ROTATED):
        return {**result, "verified": False, "reason": f"key_{key.status}"}
    return result
