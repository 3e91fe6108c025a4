"""Discovery: ranked full-text search, partial names, filters and stable pagination."""

from __future__ import annotations

from tests.conftest import make_doc


def publish_many(api, signer, docs):
    for doc in docs:
        assert api.publish(signer.sign(doc)).status_code == 201


def names(resp):
    return [item["name"] for item in resp.json()["items"]]


def test_search_ranks_ssh_exec(api, trusted_signer, make_signer):
    other = make_signer("files-key")
    publish_many(api, trusted_signer, [
        make_doc("ssh.exec", description="Run a command on a remote host over SSH."),
        make_doc("ssh.copy", description="Copy files to a remote host with scp."),
        make_doc("docker.deploy", description="Deploy a container image; mentions ssh once."),
    ])
    publish_many(api, other, [make_doc("files.move", description="Move a file between directories.")])
    resp = api.get("/v1/actions", q="ssh")
    assert resp.status_code == 200
    got = names(resp)
    assert set(got[:2]) == {"ssh.copy", "ssh.exec"}
    assert "docker.deploy" in got and "files.move" not in got
    # A word of the description finds it, stemmed.
    assert names(api.get("/v1/actions", q="commands"))[0] == "ssh.exec"
    assert names(api.get("/v1/actions", q="ssh.exec"))[0] == "ssh.exec"
    # Partial names match too.
    assert "ssh.exec" in names(api.get("/v1/actions", q="exe"))
    assert names(api.get("/v1/actions", kid="files-key")) == ["files.move"]
    assert names(api.get("/v1/actions", namespace="ssh")) == ["ssh.copy", "ssh.exec"]
    assert names(api.get("/v1/actions", q="host", namespace="ssh")) == ["ssh.copy", "ssh.exec"]
    assert api.get("/v1/actions", q="zzzzqqq").json() == {"items": [], "total": 0, "offset": 0, "limit": 50}


def test_item_shape(api, trusted_signer):
    publish_many(api, trusted_signer, [make_doc(), make_doc(version="1.1.0", description="newer words")])
    item = api.get("/v1/actions").json()["items"][0]
    assert item["name"] == "ssh.exec"
    assert item["latest_version"] == "1.1.0"
    assert item["description"] == "newer words"
    assert item["kid"] == "test-root-1"


def test_pagination_is_stable_and_complete(api, trusted_signer, django_assert_max_num_queries):
    publish_many(api, trusted_signer, [make_doc(f"net.tool{i:02d}", description="network tool") for i in range(23)])
    for query in ({}, {"q": "network"}):
        seen = []
        for offset in range(0, 30, 7):
            with django_assert_max_num_queries(2):
                page = api.get("/v1/actions", offset=offset, limit=7, **query).json()
            assert page["total"] == 23
            seen += [i["name"] for i in page["items"]]
        assert len(seen) == 23 == len(set(seen))
        again = [i["name"] for i in api.get("/v1/actions", limit=200, **query).json()["items"]]
        assert seen == again


def test_limits_are_validated(api):
    resp = api.get("/v1/actions", limit=201)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "invalid_request"
    assert api.get("/v1/actions", offset=-1).status_code == 422
