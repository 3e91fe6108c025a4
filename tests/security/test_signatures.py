"""Signatures over other bytes than stored (tampered document, swapped kid, truncated, padded or flipped
signature) and algorithm confusion: refused at publish, nothing written. (Moved from
tests/registry/test_publish.py.)"""

from __future__ import annotations

import pytest

from action_registry import crypto
from tests.conftest import make_doc
from tests.registry.test_publish import counts, error


def _tamper_bytes(env):
    env["action"]["description"] += " (evil)"


def _swap_kid(env):
    env["signature"]["kid"] = "other-key"


def _wrong_alg(env):
    env["signature"]["alg"] = "ES256"


def _truncate_sig(env):
    env["signature"]["sig"] = env["signature"]["sig"][:40]


def _pad_sig(env):
    env["signature"]["sig"] += "=="


def _flip_sig(env):
    raw = bytearray(crypto.b64url_decode(env["signature"]["sig"]))
    raw[5] ^= 1
    env["signature"]["sig"] = crypto.b64url_encode(bytes(raw))


@pytest.mark.parametrize("tamper, status, code", [
    (_tamper_bytes, 422, "signature_invalid"),
    (_swap_kid, 422, "signature_invalid"),
    (_wrong_alg, 422, "alg_mismatch"),
    (_truncate_sig, 422, "signature_malformed"),
    (_pad_sig, 422, "signature_malformed"),
    (_flip_sig, 422, "signature_invalid"),
])
def test_tampered_envelopes_are_refused(api, make_signer, tamper, status, code):
    signer = make_signer("test-root-1")
    make_signer("other-key")
    envelope = signer.sign(make_doc())
    tamper(envelope)
    before = counts()
    resp = api.publish(envelope)
    assert resp.status_code == status, resp.content
    assert error(resp)["code"] == code
    assert counts() == before


def test_ecdsa_key_with_ed25519_block_is_alg_confusion(api, make_signer):
    ecdsa = make_signer("p256-key", alg=crypto.ES256)
    envelope = ecdsa.sign(make_doc())
    envelope["signature"]["alg"] = "Ed25519"
    resp = api.publish(envelope)
    assert resp.status_code == 422
    assert error(resp)["code"] == "alg_mismatch"
