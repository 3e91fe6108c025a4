"""Fixtures of the registry tests: agents with their own API keys, published versions."""

from __future__ import annotations

import json

import pytest

from registry.agent_services import agent_register
from tests.conftest import make_doc


class AgentClient:
    """JSON calls to /v1/ as one agent (its own API key)."""

    def __init__(self, client, name: str):
        self.client = client
        self.name = name
        _, self.token = agent_register(name=name, namespaces=["agents"], actor="test")

    def _h(self):
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}

    def get(self, path, **params):
        return self.client.get(path, params or None, **self._h())

    def post(self, path, body):
        return self.client.post(path, json.dumps(body), content_type="application/json", **self._h())

    def put(self, path, body=None):
        return self.client.put(path, json.dumps(body or {}), content_type="application/json", **self._h())

    def declare(self, actions, ttl=300, endpoint=None):
        return self.post("/v1/capabilities", {"endpoint": endpoint or f"https://{self.name}.example/a2a",
                                              "protocol": "http", "ttl_seconds": ttl, "actions": actions})


@pytest.fixture
def published(api, trusted_signer):
    """Publish name@version; returns {name, version, content_hash}."""
    def publish(name: str, version: str, **overrides) -> dict:
        response = api.publish(trusted_signer.sign(make_doc(name, version, **overrides)))
        assert response.status_code == 201, response.content
        return {"name": name, "version": version, "content_hash": response.json()["content_hash"]}
    return publish


@pytest.fixture
def make_agent(client):
    return lambda name: AgentClient(client, name)
