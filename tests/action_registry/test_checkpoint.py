"""Signed notes and checkpoints: byte-for-byte against Go's sumdb/note vectors, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from action_registry import crypto
from action_registry.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteSigner,
    NoteVerifier,
    checkpoint_open,
    checkpoint_parse,
    checkpoint_sign,
    note_open,
    note_sign,
    timestamp_extension,
)

# Source: golang.org/x/mod/sumdb/note, note_test.go (TestNewVerifier, TestSign, TestOpen), BSD-3-Clause.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIG = ("\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6"
          "RyyBwJnAM=\n")
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
ENOCH_SIG = ("\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WW"
             "d1RvMc+QQ=\n")


def test_go_verifier_key_parses_and_round_trips():
    verifier = NoteVerifier.from_vkey(GO_VKEY)
    assert verifier.name == "PeterNeumann"
    assert verifier.key_hash == 0xC74F20A3
    assert verifier.vkey == GO_VKEY


def test_go_signer_reproduces_the_published_note_byte_for_byte():
    signer = NoteSigner.from_skey(GO_SKEY)
    assert signer.verifier.vkey == GO_VKEY
    assert note_sign(GO_TEXT, signer) == GO_TEXT + "\n" + GO_SIG


def test_go_note_opens_and_tolerates_unknown_cosignatures():
    verifier = NoteVerifier.from_vkey(GO_VKEY)
    assert note_open(GO_TEXT + "\n" + GO_SIG + ENOCH_SIG, verifier) == GO_TEXT
    assert note_open(GO_TEXT + "\n" + GO_SIG + ENOCH_SIG, NoteVerifier.from_vkey(ENOCH_VKEY)) == GO_TEXT


@pytest.mark.parametrize("note", [
    GO_TEXT,
    GO_TEXT + "\n",
    GO_TEXT + "\n" + GO_SIG[:-1],
    "\x01" + GO_TEXT + "\n" + GO_SIG,
    GO_TEXT + "\n" + "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZ"
                     "b6KE6RyyBwJnAM=",
    GO_TEXT + "\n" + GO_SIG + "Unexpected line.\n",
    GO_TEXT + "\n" + GO_SIG * 101,
], ids=["no-sigs", "blank-only", "no-final-newline", "control-char", "bad-name", "trailing-line", "too-many"])
def test_go_malformed_notes_are_refused(note):
    with pytest.raises(CheckpointError):
        note_open(note, NoteVerifier.from_vkey(GO_VKEY))


def test_tampered_text_or_signature_is_refused():
    verifier = NoteVerifier.from_vkey(GO_VKEY)
    with pytest.raises(CheckpointError) as err:
        note_open(GO_TEXT.replace("cryptography", "cryptographY") + "\n" + GO_SIG, verifier)
    assert err.value.code == "checkpoint_signature_invalid"
    with pytest.raises(CheckpointError) as err:
        note_open(GO_TEXT + "\n" + GO_SIG[:60] + "ABCD" + GO_SIG[60:], verifier)
    assert err.value.code == "checkpoint_signature_invalid"
    with pytest.raises(CheckpointError) as err:
        note_open(GO_TEXT + "\n" + ENOCH_SIG, verifier)
    assert err.value.code == "checkpoint_unsigned"


@pytest.mark.parametrize("vkey", [
    GO_VKEY[:-1], GO_VKEY + "A", "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
    "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
])
def test_mangled_verifier_keys_are_refused(vkey):
    with pytest.raises(CheckpointError):
        NoteVerifier.from_vkey(vkey)


def test_checkpoint_round_trip_with_timestamp():
    signer = NoteSigner(name="registry.example/log", key=crypto.generate_private_key())
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    cp = Checkpoint(origin="registry.example/log", size=12, root_hash=bytes(range(32)),
                    extensions=(timestamp_extension(when),))
    note = checkpoint_sign(cp, signer)
    assert note.startswith("registry.example/log\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
                           "Timestamp: 1767323045678901000\n\n\u2014 registry.example/log ")
    opened = checkpoint_open(note, signer.verifier, origin="registry.example/log")
    assert opened == cp
    assert opened.timestamp == when
    with pytest.raises(CheckpointError) as err:
        checkpoint_open(note, signer.verifier, origin="other.example/log")
    assert err.value.code == "checkpoint_wrong_origin"


@pytest.mark.parametrize("body", [
    "origin\n",
    "origin\n012\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    "origin\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    "origin\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n",
    "\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    "origin\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n",
], ids=["short", "leading-zero", "negative", "31-byte-root", "empty-origin", "empty-extension"])
def test_malformed_checkpoints_are_refused(body):
    with pytest.raises(CheckpointError):
        checkpoint_parse(body)
