"""Helpers shared by the lifecycle tests: documents whose schemas evolve, and publishing them."""

from __future__ import annotations

from tests.conftest import make_doc

BASE_INPUT = {"type": "object", "properties": {"host": {"type": "string"}, "command": {"type": "string"}},
              "required": ["host", "command"]}
WITH_OPTIONAL_TIMEOUT = {"type": "object", "properties": {"host": {"type": "string"}, "command": {"type": "string"},
                                                          "timeout": {"type": "integer", "minimum": 1}},
                         "required": ["host", "command"]}
WITH_REQUIRED_TIMEOUT = {**WITH_OPTIONAL_TIMEOUT, "required": ["host", "command", "timeout"]}


def doc(version: str, input_schema: dict | None = None, compatibility: dict | None = None,
        name: str = "ssh.exec", **extra) -> dict:
    d = make_doc(name=name, version=version, input_schema=input_schema or BASE_INPUT, **extra)
    if compatibility is not None:
        d["compatibility"] = compatibility
    return d


def publish(api, signer, version: str, input_schema: dict | None = None, compatibility: dict | None = None,
            expect: int = 201, **kw):
    resp = api.publish(signer.sign(doc(version, input_schema, compatibility, **kw)))
    assert resp.status_code == expect, resp.content
    return resp


def error(resp) -> dict:
    body = resp.json()
    assert set(body) == {"error"}, body
    return body["error"]
