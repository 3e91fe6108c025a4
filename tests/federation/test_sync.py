"""POST /v1/sync: edge publishes pushed back, each reported; nothing merged silently."""

from __future__ import annotations

import pytest

from core.models import Event
from tests.conftest import make_doc

pytestmark = pytest.mark.django_db


def test_sync_reports_new_identical_conflict_and_refused_item_by_item(api, trusted_signer, make_signer):
    edge = make_signer("edge-1", scopes=["ssh"])  # an edge key the registry trusts for ssh
    present = edge.sign(make_doc("ssh.exec", "1.0.0"))
    assert api.publish(present).status_code == 201
    here = edge.sign(make_doc("ssh.copy", "1.0.0", description="Copy over SSH (published centrally)."))
    assert api.publish(here).status_code == 201
    stranger = make_signer("stranger-1", trusted=False)

    pushed = [
        edge.sign(make_doc("ssh.tunnel", "1.0.0")),                                               # new
        present,                                                                                  # identical
        edge.sign(make_doc("ssh.copy", "1.0.0", description="Copy over SSH (edited at the edge).")),  # conflict
        stranger.sign(make_doc("ssh.wipe", "1.0.0")),                                             # refused
    ]
    response = api.post("/v1/sync", {"items": pushed})

    assert response.status_code == 200, response.content
    body = response.json()
    assert [(i["index"], i["name"], i["status"]) for i in body["items"]] == [
        (0, "ssh.tunnel", "accepted"), (1, "ssh.exec", "identical"), (2, "ssh.copy", "conflict"),
        (3, "ssh.wipe", "refused")]
    assert body["summary"] == {"accepted": 1, "identical": 1, "conflict": 1, "refused": 1}
    conflict = body["items"][2]
    assert conflict["code"] == "version_exists"
    assert conflict["local_content_hash"] == api.get("/v1/actions/ssh.copy/versions/1.0.0").json()["content_hash"]
    assert conflict["content_hash"] != conflict["local_content_hash"]
    assert body["items"][3]["code"] == "unknown_kid"
    # the local bytes stay, the conflict is raised for an operator, the new one is served
    kept = api.get("/v1/actions/ssh.copy/versions/1.0.0").json()
    assert kept["action"]["description"] == "Copy over SSH (published centrally)."
    assert Event.objects.filter(kind="anomaly.sync_conflict", subject="ssh.copy@1.0.0").count() == 1
    assert api.get("/v1/actions/ssh.tunnel/versions/1.0.0").json()["verification"]["verified"] is True
    assert api.get("/v1/actions/ssh.wipe").status_code == 404


def test_sync_needs_an_api_key_and_at_least_one_item(api, client):
    assert client.post("/v1/sync", data={"items": []}, content_type="application/json").status_code == 401
    assert api.post("/v1/sync", {"items": []}).status_code == 422
