"""Endless data: oversized bodies, deep nesting, huge or exploding schemas, long names and kids are each
refused with a clear error before the expensive step (reading, parsing, diffing) runs."""

from __future__ import annotations

import socket

import httpx
import pytest

from registry.models import ActionVersion
from tests.conftest import make_doc
from tests.security.conftest import raw_envelope


def ref_bomb(levels: int, leaf_type: str = "string") -> dict:
    """~100 bytes a level, 2**levels nodes once the $refs are expanded (a 'billion laughs' schema)."""
    defs = {f"d{i}": {"type": "object", "properties": {"x": {"$ref": f"#/$defs/d{i + 1}"},
                                                       "y": {"$ref": f"#/$defs/d{i + 1}"}}} for i in range(levels)}
    defs[f"d{levels}"] = {"type": leaf_type}
    return {"$defs": defs, "$ref": "#/$defs/d0"}


def test_a_ref_fan_out_bomb_is_refused_at_publish(api, trusted_signer):
    """3 KB of schema expanding to 2**40 nodes: the compatibility diff against 1.0.0 would walk all of
    them (it used to: a worker stuck for hours). Refused as too complex before any diff runs."""
    assert api.publish(trusted_signer.sign(make_doc())).status_code == 201
    doc = make_doc(version="1.1.0", input_schema=ref_bomb(40))
    resp = api.publish(raw_envelope(trusted_signer, doc))
    assert resp.status_code == 422, resp.content
    err = resp.json()["error"]
    assert err["code"] == "schema_too_complex" and err["details"]["field"] == "input_schema"
    assert ActionVersion.objects.count() == 1


def test_the_diff_itself_is_bounded():
    """Belt and braces: even schemas stored before the publish check cannot make a diff run unbounded."""
    from action_registry.diff import diff_schema
    from action_registry.errors import DocumentError
    with pytest.raises(DocumentError) as exc:
        diff_schema(ref_bomb(40), ref_bomb(40, "integer"), schema="input")
    assert exc.value.code == "schema_too_complex"


def test_recursive_and_wide_schemas_within_bounds_are_fine(api, trusted_signer):
    tree = {"$defs": {"node": {"type": "object", "properties": {"children": {
        "type": "array", "items": {"$ref": "#/$defs/node"}}}}}, "$ref": "#/$defs/node"}
    wide = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(3000)}}
    assert api.publish(trusted_signer.sign(make_doc(input_schema=tree, output_schema=wide))).status_code == 201


def test_long_names_are_refused_cheaply(api, trusted_signer):
    resp = api.publish(raw_envelope(trusted_signer, make_doc(name="a." + "b" * 100_000)))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "invalid_name" and "at most 200" in resp.json()["error"]["message"]
    long_kid = raw_envelope(trusted_signer, make_doc(), kid="k" * 5000)
    resp = api.publish(long_kid)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_kid"
    assert api.get("/v1/actions/" + "a." * 3000 + "b").status_code in (404, 422)


def test_long_description_is_refused(api, trusted_signer):
    resp = api.publish(raw_envelope(trusted_signer, make_doc(description="x" * 20_001)))
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_document"


def test_oversized_body_is_refused_before_it_is_read(registry_server, api_token):
    """A 100 MB Content-Length with no body sent: the real server answers 413 from the header alone
    (it would otherwise wait for 100 MB, or read them all into memory)."""
    url = registry_server()
    port = int(url.rsplit(":", 1)[1])
    httpx.get(url + "/v1/actions", timeout=60)  # the first request of a fresh worker loads the app: not timed
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall((f"POST /v1/actions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {api_token}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{").encode())
        chunks = []
        while True:  # headers and body may come in separate segments; the server closes after answering
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
            if b"body_too_large" in b"".join(chunks):
                break
        reply = b"".join(chunks).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413"), reply[:300]
    assert "body_too_large" in reply


def test_oversized_body_is_413(api, trusted_signer, settings):
    doc = make_doc(metadata={"blob": "x" * (300 * 1024)})
    resp = api.publish({"action": doc, "signature": {"kid": "k", "alg": "Ed25519", "sig": "A"}})
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "body_too_large"


def test_deep_nesting_is_422(api, trusted_signer):
    nested: dict = {}
    node = nested
    for _ in range(200):
        node["a"] = {}
        node = node["a"]
    resp = api.publish({"action": make_doc(metadata=nested), "signature": {"kid": "k", "alg": "Ed25519", "sig": "A"}})
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "too_deep"
