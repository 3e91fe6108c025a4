"""Fixtures of the web page tests: a small catalog with a breaking change, delegation certificates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from action_registry import crypto
from action_registry.chain import make_certificate, sign_certificate
from tests.conftest import Signer, make_doc

INPUT_V2 = {"type": "object", "properties": {"host": {"type": "string", "description": "Host to reach."},
                                             "command": {"type": "string"},
                                             "port": {"type": "integer", "minimum": 1, "maximum": 65535}},
            "required": ["host", "command", "port"]}


@pytest.fixture
def catalog(api, trusted_signer):
    """ssh.exec 1.0.0 -> 1.1.0 (optional input added) -> 2.0.0 (required input: breaking); weather.forecast."""
    v11_input = {**make_doc()["input_schema"]}
    v11_input["properties"] = {**v11_input["properties"], "timeout": {"type": "integer", "default": 30}}
    docs = [make_doc("ssh.exec", "1.0.0"), make_doc("ssh.exec", "1.1.0", input_schema=v11_input),
            make_doc("ssh.exec", "2.0.0", input_schema=INPUT_V2),
            make_doc("weather.forecast", "1.0.0", description="Forecast the weather for a city.",
                     input_schema={"type": "object", "properties": {"city": {"type": "string"}}})]
    for doc in docs:
        response = api.publish(trusted_signer.sign(doc))
        assert response.status_code == 201, response.content
    return trusted_signer


def new_signer(kid: str) -> Signer:
    return Signer(kid=kid, private_key=crypto.generate_private_key(crypto.ED25519))


def certificate(parent: Signer, child: Signer, scopes: list[str]) -> dict:
    now = datetime.now(UTC)
    doc = make_certificate(kid=child.kid, alg=child.alg, public_key=child.public_b64, parent_kid=parent.kid,
                           scopes=scopes, not_before=now - timedelta(minutes=5), not_after=now + timedelta(days=90))
    return sign_certificate(doc, parent.private_key, parent.kid)

