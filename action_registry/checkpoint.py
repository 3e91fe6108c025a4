"""Signed notes and log checkpoints in the format of Go's sumdb and Sigstore (C2SP signed-note, tlog-checkpoint)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

from . import crypto
from .errors import RegistryError, SignatureError

SIG_PREFIX = "\u2014 "  # an em dash and a space open every signature line
ALG_ED25519 = 0x01  # the signature-type byte of Go's note package for Ed25519
MAX_SIGNATURES = 100
TIMESTAMP_EXT = "Timestamp: "  # extension line: integration time of the newest leaf, unix nanoseconds
_DECIMAL_RE = re.compile(r"^(0|[1-9][0-9]{0,19})$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CheckpointError(RegistryError):
    """A signed note or checkpoint is malformed, or no trusted signature on it verifies."""

    code = "checkpoint_invalid"
    status = 422
    default_suggestion = "Fetch GET /v1/log/checkpoint again and check it against GET /v1/log/key."


def _b64decode(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("not standard base64", code="checkpoint_malformed") from None
    if base64.b64encode(raw).decode("ascii") != text:  # one encoding per value: no stray bits
        raise CheckpointError("non-canonical base64", code="checkpoint_malformed")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def check_key_name(name: str) -> str:
    """Note key names: non-empty, no whitespace, no '+' (it separates the parts of a verifier key)."""
    if not isinstance(name, str) or not name or "+" in name or any(
            ch.isspace() or unicodedata.category(ch) == "Zs" for ch in name):
        raise CheckpointError(f"{str(name)[:80]!r} is not a note key name", code="checkpoint_malformed",
                              suggestion="Use a name without spaces or '+', e.g. the log's origin.")
    return name


def key_hash(name: str, public_key: bytes) -> int:
    """sha256(name || "\\n" || 0x01 || key)[:4] as a big-endian uint32, as golang.org/x/mod/sumdb/note does."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class NoteVerifier:
    """A note verifier key: a name and an Ed25519 public key (Go: ``name+hash+base64(0x01||key)``)."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != 32:
            raise CheckpointError("an Ed25519 note key has 32 bytes", code="checkpoint_malformed")

    @property
    def key_hash(self) -> int:
        return key_hash(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_hash:08x}+{_b64encode(bytes([ALG_ED25519]) + self.public_key)}"

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        name, sep1, rest = vkey.partition("+")
        hash_hex, sep2, key_b64 = rest.partition("+")
        if not (sep1 and sep2) or not re.fullmatch(r"[0-9a-f]{8}", hash_hex):
            raise CheckpointError("a verifier key is name+hash+key", code="checkpoint_malformed")
        raw = _b64decode(key_b64)
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise CheckpointError("the verifier key is not an Ed25519 note key", code="checkpoint_malformed")
        verifier = cls(name=name, public_key=raw[1:])
        if verifier.key_hash != int(hash_hex, 16):
            raise CheckpointError("the verifier key's hash does not match its name and key",
                                  code="checkpoint_malformed")
        return verifier

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            crypto.verify(crypto.ED25519, crypto.b64url_encode(self.public_key), message,
                          crypto.b64url_encode(signature))
        except SignatureError:
            return False
        return True


@dataclass(frozen=True)
class NoteSigner:
    """A name and an Ed25519 private key that signs notes."""

    name: str
    key: crypto.PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if crypto.private_key_alg(self.key) != crypto.ED25519:
            raise CheckpointError("note signing keys are Ed25519", code="checkpoint_malformed")

    @cached_property  # a frozen dataclass's own __dict__: computing the public key cost as much as signing
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(name=self.name, public_key=crypto.b64url_decode(crypto.public_key_b64(self.key)))

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Go's signer key form ``PRIVATE+KEY+name+hash+base64(0x01||seed)``."""
        parts = skey.split("+", 4)  # the base64 key itself may contain '+'
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise CheckpointError("a signer key is PRIVATE+KEY+name+hash+key", code="checkpoint_malformed")
        raw = _b64decode(parts[4])
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise CheckpointError("the signer key is not an Ed25519 note key", code="checkpoint_malformed")
        signer = cls(name=parts[2], key=crypto.ed25519_private_key_from_seed(raw[1:]))
        if f"{signer.verifier.key_hash:08x}" != parts[3]:
            raise CheckpointError("the signer key's hash does not match", code="checkpoint_malformed")
        return signer

    def sign(self, message: bytes) -> bytes:
        return crypto.b64url_decode(crypto.sign(self.key, message))


_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")


def _check_text(text: str) -> None:
    if not text.endswith("\n") or _CONTROL.search(text):
        raise CheckpointError("note text must end in a newline and hold no control characters",
                              code="checkpoint_malformed")


def note_sign(text: str, signer: NoteSigner) -> str:
    """``text`` + blank line + ``— name base64(keyhash || signature)``."""
    _check_text(text)
    verifier = signer.verifier
    sig = verifier.key_hash.to_bytes(4, "big") + signer.sign(text.encode("utf-8"))
    return f"{text}\n{SIG_PREFIX}{signer.name} {_b64encode(sig)}\n"


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_hash: int
    signature: bytes


def note_split(note: str) -> tuple[str, list[NoteSignature]]:
    """The text (with its final newline) and the signature lines, checked for form only."""
    if not isinstance(note, str) or "\r" in note:
        raise CheckpointError("a note is text with \\n line ends", code="checkpoint_malformed")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise CheckpointError("a note is text, a blank line and signature lines", code="checkpoint_malformed")
    text, sig_block = note[:cut + 1], note[cut + 2:]
    _check_text(text)
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"more than {MAX_SIGNATURES} signatures", code="checkpoint_malformed")
    sigs = []
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise CheckpointError("a signature line starts with an em dash and a space", code="checkpoint_malformed")
        name, sep, b64 = line[len(SIG_PREFIX):].partition(" ")
        if not sep or " " in b64:
            raise CheckpointError("a signature line is '— name signature'", code="checkpoint_malformed")
        check_key_name(name)
        raw = _b64decode(b64)
        if len(raw) < 5:
            raise CheckpointError("a signature is 4 bytes of key hash and the signature", code="checkpoint_malformed")
        sigs.append(NoteSignature(name=name, key_hash=int.from_bytes(raw[:4], "big"), signature=raw[4:]))
    return text, sigs


def note_open(note: str, verifier: NoteVerifier) -> str:
    """The note's text when ``verifier``'s signature on it verifies. Other signers' lines (witness cosignatures)
    are tolerated; a bad signature by the trusted key is an error, not something to skip."""
    text, sigs = note_split(note)
    mine = [s for s in sigs if s.name == verifier.name and s.key_hash == verifier.key_hash]
    if not mine:
        raise CheckpointError(f"the note carries no signature by {verifier.name}+{verifier.key_hash:08x}",
                              code="checkpoint_unsigned",
                              suggestion="Check that you pinned this registry's log key (GET /v1/log/key).")
    for sig in mine:
        if not verifier.verify(text.encode("utf-8"), sig.signature):
            raise CheckpointError(f"the signature by {verifier.name} does not verify",
                                  code="checkpoint_signature_invalid")
    return text


# --- checkpoints ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    """origin, tree size and root hash (the C2SP tlog-checkpoint body), plus optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        if not self.origin or "\n" in self.origin or self.size < 0 or len(self.root_hash) != 32:
            raise CheckpointError("a checkpoint needs an origin line, a size >= 0 and a 32-byte root",
                                  code="checkpoint_malformed")
        if any(not ext or "\n" in ext for ext in self.extensions):
            raise CheckpointError("extension lines are non-empty single lines", code="checkpoint_malformed")
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), _b64encode(self.root_hash),
                                                *self.extensions))

    @property
    def timestamp(self) -> datetime | None:
        """The ``Timestamp:`` extension (integration time of the tree's newest leaf), when present."""
        for ext in self.extensions:
            if ext.startswith(TIMESTAMP_EXT):
                nanos = ext[len(TIMESTAMP_EXT):]
                if not _DECIMAL_RE.match(nanos):
                    raise CheckpointError("Timestamp is decimal unix nanoseconds", code="checkpoint_malformed")
                return EPOCH + timedelta(microseconds=int(nanos) // 1000)
        return None


def timestamp_extension(when: datetime) -> str:
    return f"{TIMESTAMP_EXT}{(when - EPOCH) // timedelta(microseconds=1) * 1000}"


def checkpoint_parse(text: str) -> Checkpoint:
    """Parse a checkpoint body (the note's text, not the signatures)."""
    _check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("a checkpoint has an origin, a size and a root hash line", code="checkpoint_malformed")
    origin, size, root_b64, *extensions = lines
    if not origin:
        raise CheckpointError("the checkpoint's origin line is empty", code="checkpoint_malformed")
    if not _DECIMAL_RE.match(size):
        raise CheckpointError("the tree size is decimal without leading zeros", code="checkpoint_malformed")
    root = _b64decode(root_b64)
    if len(root) != 32:
        raise CheckpointError("the root hash is 32 bytes", code="checkpoint_malformed")
    if any(not ext for ext in extensions):
        raise CheckpointError("extension lines are non-empty", code="checkpoint_malformed")
    return Checkpoint(origin=origin, size=int(size), root_hash=root, extensions=tuple(extensions))


def checkpoint_sign(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    return note_sign(checkpoint.body(), signer)


def checkpoint_open(note: str, verifier: NoteVerifier, *, origin: str | None = None) -> Checkpoint:
    """Verify the log key's signature, then parse; with ``origin``, refuse another log's checkpoint."""
    checkpoint = checkpoint_parse(note_open(note, verifier))
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"the checkpoint is for log {checkpoint.origin!r}, not {origin!r}",
                              code="checkpoint_wrong_origin")
    return checkpoint
