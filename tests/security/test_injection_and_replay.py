"""HTML injection through descriptions into the pages, and replays of captured lifecycle requests."""

from __future__ import annotations

from registry.models import ActionVersion
from tests.conftest import make_doc

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_pages_escape_a_script_in_the_description(client, api, trusted_signer):
    assert api.publish(trusted_signer.sign(make_doc(description=f"Runs things. {SCRIPT}"))).status_code == 201
    for path in ("/", "/?q=runs", "/actions/ssh.exec/", "/actions/ssh.exec/versions/1.0.0/"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        html = resp.content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html, path
        if path.startswith("/actions/"):
            assert "&lt;script&gt;alert(" in html or "\\u003Cscript\\u003E" in html, path
    assert ActionVersion.objects.count() == 1


def test_search_for_markup_is_escaped_in_the_catalog(client, api, trusted_signer):
    assert api.publish(trusted_signer.sign(make_doc())).status_code == 201
    html = client.get("/", {"q": SCRIPT}).content.decode()
    assert "<script>alert" not in html


def test_replayed_deprecation_with_a_revoked_key_or_another_namespace_is_refused(api, trusted_signer,
                                                                                make_api_token):
    from governance.services import api_key_revoke
    token = make_api_token("ssh-team", ["ssh"])
    other = make_api_token("files-team", ["files"])
    assert api.publish(trusted_signer.sign(make_doc())).status_code == 201
    assert api.publish(trusted_signer.sign(make_doc(version="2.0.0"))).status_code == 201
    captured = {"reason": "Superseded by 2.0.0.", "successor": "2.0.0"}
    path = "/v1/actions/ssh.exec/versions/1.0.0/deprecate"
    assert api.post(path, captured, token=token).status_code == 200
    assert api.post("/v1/actions/ssh.exec/versions/1.0.0/undeprecate", {"reason": "Still supported."},
                    token=token).status_code == 200
    api_key_revoke(name="ssh-team", actor="test")
    assert api.post(path, captured, token=token).status_code == 401  # the captured request, replayed
    assert api.post(path, captured, token=other).status_code == 403
    assert api.get("/v1/actions/ssh.exec/versions/1.0.0").json()["deprecated"] is False
