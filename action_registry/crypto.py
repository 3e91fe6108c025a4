"""Signing and verification (Ed25519, ECDSA P-256), key encodings: the only module that touches crypto."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .errors import SignatureError

ED25519 = "Ed25519"
ES256 = "ES256"  # ECDSA over P-256 with SHA-256, signature as raw r||s (64 bytes), as in JOSE
ALGORITHMS = (ED25519, ES256)
_SIG_LEN = {ED25519: 64, ES256: 64}
_RAW_KEY_LEN = {ED25519: 32, ES256: 65}

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or not text or "=" in text:
        raise ValueError("expected unpadded base64url text")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from None
    if b64url_encode(raw) != text:  # refuse non-canonical encodings (stray bits, wrong alphabet)
        raise ValueError("non-canonical base64url")
    return raw


def check_alg(alg: str) -> str:
    if alg not in ALGORITHMS:
        raise SignatureError(f"algorithm {alg!r} is not supported", code="unsupported_alg",
                             suggestion=f"Use one of: {', '.join(ALGORITHMS)}.")
    return alg


# --- keys -----------------------------------------------------------------------------------------

def generate_private_key(alg: str = ED25519) -> PrivateKey:
    check_alg(alg)
    if alg == ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def ed25519_private_key_from_seed(seed: bytes) -> PrivateKey:
    """An Ed25519 key from its 32-byte RFC 8032 seed (the form Go's sumdb note signer keys carry)."""
    if len(seed) != 32:
        raise SignatureError(f"an Ed25519 seed has 32 bytes, got {len(seed)}", code="malformed_key")
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def private_key_alg(key: PrivateKey) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return ED25519
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return ES256
    raise SignatureError("unsupported private key type", code="unsupported_alg")


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(data: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"not a PEM private key: {exc}", code="malformed_key") from None
    private_key_alg(key)
    return key  # type: ignore[return-value]


def write_private_key(path: str | Path, key: PrivateKey) -> None:
    """Write a PKCS#8 PEM readable by the owner only (0600), refusing to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_pem(key))


def public_key_raw(key: PublicKey) -> bytes:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def public_key_b64(key: PrivateKey | PublicKey) -> str:
    """The wire form of a public key: base64url of the raw key (Ed25519 32 bytes, P-256 uncompressed point)."""
    if hasattr(key, "public_key"):
        key = key.public_key()  # type: ignore[union-attr]
    return b64url_encode(public_key_raw(key))  # type: ignore[arg-type]


def public_key_pem(key: PrivateKey | PublicKey) -> bytes:
    if hasattr(key, "public_key"):
        key = key.public_key()  # type: ignore[union-attr]
    return key.public_bytes(serialization.Encoding.PEM,  # type: ignore[union-attr]
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def normalize_public_key(alg: str, data: str | bytes) -> str:
    """Accept PEM (SubjectPublicKeyInfo) or base64url raw; return the canonical base64url raw form."""
    check_alg(alg)
    if isinstance(data, bytes):
        data = data.decode("ascii", errors="replace")
    text = data.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, TypeError) as exc:
            raise SignatureError(f"not a PEM public key: {exc}", code="malformed_key") from None
        expected = ed25519.Ed25519PublicKey if alg == ED25519 else ec.EllipticCurvePublicKey
        if not isinstance(key, expected) or (alg == ES256 and not isinstance(key.curve, ec.SECP256R1)):
            raise SignatureError(f"the PEM key is not an {alg} key", code="alg_mismatch",
                                 suggestion="Name the algorithm the key was generated for.")
        return b64url_encode(public_key_raw(key))
    _load_public(alg, text)
    return text


@lru_cache(maxsize=4096)
def _load_public(alg: str, key_b64: str) -> PublicKey:
    try:
        raw = b64url_decode(key_b64)
    except ValueError:
        raise SignatureError("public key is not unpadded base64url", code="malformed_key") from None
    if len(raw) != _RAW_KEY_LEN[alg]:
        raise SignatureError(f"an {alg} public key has {_RAW_KEY_LEN[alg]} bytes, got {len(raw)}",
                             code="malformed_key")
    try:
        if alg == ED25519:
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError as exc:
        raise SignatureError(f"invalid {alg} public key: {exc}", code="malformed_key") from None


def key_fingerprint(alg: str, key_b64: str) -> str:
    """Stable short identity of a public key, for display and logs."""
    return "sha256:" + hashlib.sha256(f"{alg}:{key_b64}".encode()).hexdigest()[:32]


# --- signatures -----------------------------------------------------------------------------------

def sign(key: PrivateKey, message: bytes) -> str:
    """Sign and return base64url (ECDSA as raw r||s so both algorithms are 64 bytes)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return b64url_encode(key.sign(message))
    der = key.sign(message, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def verify(alg: str, public_key_b64: str, message: bytes, sig_b64: str) -> None:
    """Raise ``SignatureError`` unless ``sig_b64`` is ``alg``'s valid signature of ``message``."""
    check_alg(alg)
    try:
        sig = b64url_decode(sig_b64)
    except ValueError:
        raise SignatureError("signature is not unpadded base64url", code="signature_malformed",
                             suggestion="Encode the raw signature bytes as base64url without padding.") from None
    if len(sig) != _SIG_LEN[alg]:
        raise SignatureError(f"an {alg} signature has {_SIG_LEN[alg]} bytes, got {len(sig)}",
                             code="signature_malformed",
                             suggestion="Send the whole signature; ECDSA signatures are raw r||s.")
    key = _load_public(alg, public_key_b64)
    try:
        if alg == ED25519:
            key.verify(sig, message)  # type: ignore[call-arg]
        else:
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            key.verify(der, message, ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg]
    except InvalidSignature:
        raise SignatureError("the signature does not verify against the canonical bytes",
                             code="signature_invalid") from None


@dataclass(frozen=True)
class SignatureBlock:
    kid: str
    alg: str
    sig: str

    def as_dict(self) -> dict:
        return {"kid": self.kid, "alg": self.alg, "sig": self.sig}
