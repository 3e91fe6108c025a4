"""SQL and HTML injection through names, descriptions and search (the ORM and full-text search parameterise,
templates escape), and replays of captured lifecycle requests."""

from __future__ import annotations

from registry.models import ActionVersion
from tests.conftest import make_doc
from tests.security.conftest import raw_envelope

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_injection_in_query_is_inert(api, trusted_signer):
    """(Moved from tests/registry/test_search.py.)"""
    assert api.publish(trusted_signer.sign(make_doc())).status_code == 201
    for q in ["'; DROP TABLE registry_action; --", "%", "_", "\\", "ssh' OR '1'='1", "!!!", "a & b | !c"]:
        resp = api.get("/v1/actions", q=q)
        assert resp.status_code == 200, q
    assert api.get("/v1/actions", q="%").json()["total"] == 0
    assert api.get("/v1/actions").json()["total"] == 1


SQL = "x'); DROP TABLE registry_action; --"


def test_sql_in_a_name_is_refused_and_in_a_description_is_stored_as_text(api, trusted_signer):
    resp = api.publish(raw_envelope(trusted_signer, make_doc(name=f"ssh.{SQL}")))
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_name"
    assert api.publish(trusted_signer.sign(make_doc(description=f"Runs things. {SQL}"))).status_code == 201
    assert api.get("/v1/actions/ssh.exec/versions/1.0.0").json()["action"]["description"] == f"Runs things. {SQL}"
    assert api.get("/v1/actions", q=SQL).status_code == 200
    assert ActionVersion.objects.count() == 1  # the table is still there, with the one version


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
