"""Two documents must never share canonical bytes unless they are the same JSON value: unicode
normalisation forms, escapes, key order, whitespace and number spellings, over the real publish path."""

from __future__ import annotations

import json
import unicodedata

import pytest

from action_registry.canonical import canonicalize, content_hash, parse_json
from action_registry.errors import CanonicalizationError
from registry.models import ActionVersion
from tests.conftest import make_doc
from tests.security.conftest import raw_envelope

NFC = "caf\u00e9"  # é as one code point
NFD = "cafe\u0301"  # e + combining acute: looks identical, is another string


def test_nfc_and_nfd_strings_never_collide():
    assert unicodedata.normalize("NFC", NFD) == NFC  # the same text to a reader...
    a, b = canonicalize(make_doc(description=NFC)), canonicalize(make_doc(description=NFD))
    assert a != b and content_hash(a) != content_hash(b)  # ...but other bytes: no silent normalisation
    assert NFD.encode() in b and NFC.encode() in a


def test_nfd_twin_of_a_published_document_is_another_record(api, trusted_signer):
    """The NFC original is published; its NFD twin is neither idempotent (200) nor covered by its signature."""
    original = trusted_signer.sign(make_doc(description=NFC))
    assert api.publish(original).status_code == 201
    twin = {"action": make_doc(description=NFD), "signature": original["signature"]}
    resp = api.publish(twin)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "signature_invalid"
    resp = api.publish(trusted_signer.sign(make_doc(description=NFD)))
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "version_exists"
    assert bytes(ActionVersion.objects.get().blob.canonical) == canonicalize(make_doc(description=NFC))


def test_unicode_in_keys_is_not_normalised_either():
    # Two keys, sorted by UTF-16 code units ("e" < "\u00e9"): neither folded into the other.
    assert canonicalize({NFC: 1, NFD: 2}) == ('{"' + NFD + '":2,"' + NFC + '":1}').encode()


def test_an_escaped_key_is_the_same_key_and_counts_as_a_duplicate(api, trusted_signer):
    """``"\\u0061"`` is ``"a"``: spelled twice in one object it is a duplicate, not a second key that
    a lenient parser would keep and a strict one drop (the classic parser-differential attack)."""
    with pytest.raises(CanonicalizationError) as exc:
        parse_json('{"a": 1, "\\u0061": 2}')
    assert exc.value.code == "duplicate_key"
    envelope = trusted_signer.sign(make_doc())
    text = json.dumps(envelope).replace('"description": ', '"descr\\u0069ption": "decoy", "description": ', 1)
    resp = api.post("/v1/actions", text, raw=True)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "duplicate_key"
    assert not ActionVersion.objects.exists()


def test_escapes_key_order_and_whitespace_are_the_same_value(api, trusted_signer):
    """The other direction: spellings of one value share bytes, so a re-serialised signed document verifies."""
    doc = make_doc(description="tab\there \u2028 \U0001f511 \"q\"")
    envelope = trusted_signer.sign(doc)
    text = json.dumps({"signature": envelope["signature"],
                       "action": dict(sorted(doc.items(), reverse=True))}, ensure_ascii=True, indent=7)
    assert "\\ud83d\\udd11" in text  # the key emoji as an escaped surrogate pair
    resp = api.post("/v1/actions", text, raw=True)
    assert resp.status_code == 201, resp.content
    assert resp.json()["content_hash"] == content_hash(canonicalize(doc))


@pytest.mark.parametrize("spellings", [
    ["0", "-0", "0.0", "-0.0", "0e5"],
    ["1", "1.0", "1.00", "10e-1", "1E0"],
    ["100", "1e2", "1.0e+2"],
])
def test_number_spellings_of_one_value_share_one_canonical_form(spellings):
    """RFC 8785 writes numbers by value (ECMAScript): 1.0 and 1, -0 and 0 are one number, one byte string.
    That is safe because the registry stores and serves the canonical bytes, never the sender's spelling."""
    forms = {canonicalize(parse_json('{"n": ' + s + '}')) for s in spellings}
    assert len(forms) == 1, forms


def test_served_document_is_the_canonical_spelling_that_was_signed(api, trusted_signer, client):
    doc = make_doc(metadata={"weight": 1, "zero": 0})
    envelope = trusted_signer.sign(doc)
    text = json.dumps(envelope).replace('"weight": 1', '"weight": 1.0').replace('"zero": 0', '"zero": -0.0')
    resp = api.post("/v1/actions", text, raw=True)
    assert resp.status_code == 201, resp.content  # same value, so the signature over its bytes holds
    stored = bytes(ActionVersion.objects.get().blob.canonical)
    assert b'"weight":1,' in stored and b'"zero":0}' in stored
    served = client.get("/v1/actions/ssh.exec/versions/1.0.0").content
    assert b"1.0" not in served.split(b'"metadata"')[1][:60] and b"-0" not in served


@pytest.mark.parametrize("name", ["ssh.exec\n", "ssh.\u0435xec", "ssh.ex\u00e9c", "ssh.exec\u200b", "\uff53sh.exec",
                                  "ssh.EXEC", " ssh.exec"])
def test_look_alike_names_are_refused(api, trusted_signer, name):
    """Names are plain ASCII: a Cyrillic е, a zero-width space, fullwidth letters or a trailing newline
    would make a second name that looks like ``ssh.exec``. (A trailing newline used to pass: ``$``.)"""
    resp = api.publish(raw_envelope(trusted_signer, make_doc(name=name)))
    assert resp.status_code == 422, (name, resp.content)
    assert resp.json()["error"]["code"] == "invalid_name"
    assert not ActionVersion.objects.exists()


@pytest.mark.parametrize("kid", ["test-root-1\n", "test-root-1\u200b", "test\u2010root-1"])
def test_look_alike_kids_are_refused(api, trusted_signer, kid):
    envelope = trusted_signer.sign(make_doc())
    envelope["signature"]["kid"] = kid
    resp = api.publish(envelope)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_kid"


def test_duplicate_keys_in_the_body_are_refused(api, trusted_signer):
    envelope = trusted_signer.sign(make_doc())
    text = json.dumps(envelope)
    text = text.replace('"version": "1.0.0"', '"version": "1.0.0", "version": "1.0.0"', 1)
    resp = api.post("/v1/actions", text, raw=True)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "duplicate_key"
