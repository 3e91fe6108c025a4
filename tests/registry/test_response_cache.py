"""The fetch/verify answer cache (registry/response_cache.py) and the lean middleware path of /v1/.

A cached answer is byte-identical to the uncached one, and any change to what it shows (revocation, rotation,
deprecation and its lifting, a newer release) is served on the very next request, by every server process.
"""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from action_registry import crypto
from governance.services import api_key_create, signing_key_add, signing_key_mark_rotated, signing_key_revoke
from registry import response_cache
from tests.conftest import Signer, make_doc

HEADERS = ("Content-Type", "X-Action-Deprecated", "X-Action-Successor", "Deprecation", "Link")


def _publish(api, signer, name="ssh.exec", version="1.0.0"):
    resp = api.publish(signer.sign(make_doc(name, version)))
    assert resp.status_code == 201, resp.content
    return resp.json()


def _deprecate(api, name, version, successor=None):
    resp = api.post(f"/v1/actions/{name}/versions/{version}/deprecate",
                    {"reason": "Superseded; validates host names.", **({"successor": successor} if successor else {})})
    assert resp.status_code == 200, resp.content


def _seen(resp) -> tuple:
    return resp.status_code, resp.content, tuple((h, resp.headers.get(h)) for h in HEADERS)


def _urls(rec) -> list[str]:
    base = f"/v1/actions/{rec['name']}/versions/{rec['version']}"
    return [base, base + "/verify", f"/v1/actions/by-hash/{rec['content_hash']}"]


def test_cached_answers_are_the_uncached_bytes(api, trusted_signer, make_signer, settings,
                                               django_assert_num_queries):
    """Plain, deprecated (with successor), superseded, revoked-key and rotated-key records: the answer served
    from the cache equals, byte for byte and header for header, the one rendered without it."""
    plain = _publish(api, trusted_signer, "files.copy")
    old = _publish(api, trusted_signer, "ssh.exec", "1.0.0")
    _publish(api, trusted_signer, "ssh.exec", "2.0.0")
    _deprecate(api, "ssh.exec", "1.0.0", successor="2.0.0")
    revoked_signer, rotated_signer = make_signer("revoked-root"), make_signer("rotated-root")
    revoked = _publish(api, revoked_signer, "net.ping")
    rotated = _publish(api, rotated_signer, "net.trace")
    signing_key_revoke(key=revoked_signer.model, actor="test", reason="compromised")
    signing_key_mark_rotated(key=rotated_signer.model, actor="test")
    response_cache.answers.clear()

    urls = [u for rec in (plain, old, revoked, rotated) for u in _urls(rec)]
    first = {u: _seen(api.get(u)) for u in urls}  # rendered, then kept
    for u in urls:
        with django_assert_num_queries(1):  # a hit: the state probe only
            assert _seen(api.get(u)) == first[u], u
    settings.ACTION_REGISTRY_RESPONSE_CACHE_BYTES = 0
    for u in urls:
        assert _seen(api.get(u)) == first[u], u  # ninja renders the verify answer itself here
    assert first[_urls(old)[0]][2][1:3] == (("X-Action-Deprecated", "true"), ("X-Action-Successor", "2.0.0"))
    assert json.loads(first[_urls(revoked)[1]][1])["key_status"] == "revoked"
    assert json.loads(first[_urls(rotated)[1]][1])["key_status"] == "rotated"


def test_every_change_shows_on_the_next_request(api, trusted_signer):
    rec = _publish(api, trusted_signer)
    fetch, verify, by_hash = _urls(rec)

    def now():
        return api.get(fetch), api.get(verify), api.get(by_hash)

    for _ in range(2):
        f, v, h = now()
    assert f.json()["latest"] and v.json()["verified"] and "X-Action-Deprecated" not in f.headers

    _publish(api, trusted_signer, "ssh.exec", "1.1.0")  # no longer the latest release
    f, v, h = now()
    assert f.json()["latest"] is False and h.json()["latest"] is False

    _deprecate(api, "ssh.exec", "1.0.0", successor="1.1.0")
    f, v, h = now()
    assert f.headers["X-Action-Successor"] == "1.1.0" and h.headers["X-Action-Deprecated"] == "true"
    assert f.json()["deprecation"]["successor"] == "1.1.0" and v.json()["deprecated"] is True

    assert api.post("/v1/actions/ssh.exec/versions/1.0.0/undeprecate", {"reason": "rolled back"}).status_code == 200
    f, v, h = now()
    assert "X-Action-Deprecated" not in f.headers and v.json()["deprecation"] is None

    _deprecate(api, "ssh.exec", "1.0.0")  # again, without a successor this time
    f, v, h = now()
    assert f.headers["X-Action-Deprecated"] == "true" and "X-Action-Successor" not in f.headers

    signing_key_revoke(key=trusted_signer.model, actor="test", reason="compromised")
    f, v, h = now()
    assert (v.json()["verified"], v.json()["key_status"]) == (False, "revoked")
    assert f.json()["verification"]["key_status"] == "revoked" and h.json()["verification"]["verified"] is False


def test_missing_and_invalid_versions_are_not_cached(api, trusted_signer):
    _publish(api, trusted_signer)
    for _ in range(2):
        assert api.get("/v1/actions/ssh.exec/versions/9.9.9").json()["error"]["code"] == "version_not_found"
        assert api.get("/v1/actions/ssh.exec/versions/bad/verify").json()["error"]["code"] == "invalid_version"
        assert api.get("/v1/actions/by-hash/sha256:" + "0" * 64).status_code == 404
    _publish(api, trusted_signer, "ssh.exec", "9.9.9")
    assert api.get("/v1/actions/ssh.exec/versions/9.9.9").status_code == 200


@dataclass
class _Answer:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


@pytest.fixture
def live(registry_server, transactional_db):
    signer = Signer(kid="cache-root", private_key=crypto.generate_private_key())
    signer.model = signing_key_add(kid=signer.kid, alg=signer.alg, public_key=signer.public_b64, actor="test")
    token = api_key_create(name="cacher", namespaces=["*"], actor="test").token
    return registry_server(), signer, token


def test_revocation_reaches_every_server_process(live):
    """gunicorn with two workers: both keep the answer, then a revocation and a deprecation committed by
    another process show on every following request, whichever worker takes it."""
    base, signer, token = live
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.post("/v1/actions", content=json.dumps(signer.sign(make_doc())), headers=auth).status_code == 201

    host, port = base.removeprefix("http://").split(":")

    def burst(path: str) -> list[_Answer]:
        def one(_):
            conn = http.client.HTTPConnection(host, int(port), timeout=30)  # a new connection each: any worker
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                return _Answer(resp.status, dict(resp.getheaders()), resp.read())
            finally:
                conn.close()
        with ThreadPoolExecutor(6) as pool:
            return list(pool.map(one, range(12)))

    fetch, verify = "/v1/actions/ssh.exec/versions/1.0.0", "/v1/actions/ssh.exec/versions/1.0.0/verify"
    for _ in range(2):  # both workers render and keep both answers
        assert all(r.json()["verified"] for r in burst(verify))
        assert all(r.json()["verification"]["verified"] for r in burst(fetch))

    signing_key_revoke(key=signer.model, actor="test", reason="compromised")
    assert {(r.json()["verified"], r.json()["key_status"]) for r in burst(verify)} == {(False, "revoked")}
    assert {r.json()["verification"]["key_status"] for r in burst(fetch)} == {"revoked"}

    with httpx.Client(base_url=base, timeout=30) as client:
        resp = client.post("/v1/actions/ssh.exec/versions/1.0.0/deprecate", headers=auth,
                         content=json.dumps({"reason": "Use 2.x"}))
        assert resp.status_code == 200, resp.text
    assert {r.headers.get("X-Action-Deprecated") for r in burst(fetch)} == {"true"}
    assert {r.json()["deprecated"] for r in burst(verify)} == {True}


# --- the lean middleware path ---------------------------------------------------------------------

def test_admin_keeps_sessions_and_csrf(db):
    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-for-tests-only")
    browser = Client(enforce_csrf_checks=True)
    form = browser.get("/admin/login/")
    assert form.status_code == 200 and form["X-Frame-Options"] == "DENY"
    token = form.cookies["csrftoken"].value
    login = {"username": "admin", "password": "pw-for-tests-only", "next": "/admin/"}
    assert browser.post("/admin/login/", login).status_code == 403  # no CSRF token: refused
    resp = browser.post("/admin/login/", {**login, "csrfmiddlewaretoken": token})
    assert resp.status_code == 302, resp.content[:300]
    assert browser.get("/admin/").status_code == 200  # the session holds the login
    # A CSRF-protected POST with the session but no token is refused; with the (rotated) token it works.
    assert browser.post("/admin/logout/").status_code == 403
    token = browser.cookies["csrftoken"].value
    assert browser.post("/admin/logout/", {"csrfmiddlewaretoken": token}).status_code in (200, 302)
    assert browser.get("/admin/").status_code == 302  # logged out


def test_api_ignores_sessions(db, trusted_signer):
    """A logged-in admin's session cookie is no credential for /v1/: publishing still needs an API key, and
    API answers set no cookie."""
    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-for-tests-only")
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="admin", password="pw-for-tests-only")
    resp = browser.post("/v1/actions", json.dumps(trusted_signer.sign(make_doc())), content_type="application/json")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"
    read = browser.get("/v1/actions")
    assert read.status_code == 200 and not read.cookies and "Cookie" not in read.get("Vary", "")
    assert browser.get("/v1/docs")["X-Frame-Options"] == "DENY"  # the Swagger page keeps the browser stack


def test_shared_tier_serves_another_process_only_for_the_same_state(api, trusted_signer, settings, redis_url,
                                                                   django_assert_num_queries):
    """With Redis, a process that has not served a record reuses another's rendering (one state probe, no
    render), and only while the state it was rendered from holds: a revocation is never served stale."""
    settings.REDIS_URL, settings.ACTION_REGISTRY_SHARED_ANSWERS = redis_url, True
    response_cache.shared._paused_until = 0.0
    rec = _publish(api, trusted_signer, "files.move")
    response_cache.answers.clear()
    first = {u: _seen(api.get(u)) for u in _urls(rec)}  # rendered here, shared through Redis
    response_cache.answers.clear()  # as a process that never served it
    for u in _urls(rec):
        with django_assert_num_queries(1):  # the state probe; the answer comes from Redis
            assert _seen(api.get(u)) == first[u], u
    signing_key_revoke(key=trusted_signer.model, actor="test", reason="compromised")
    response_cache.answers.clear()
    fetch, verify, by_hash = (api.get(u) for u in _urls(rec))
    assert (verify.json()["verified"], verify.json()["key_status"]) == (False, "revoked")
    assert fetch.json()["verification"]["verified"] is False and by_hash.json()["verification"]["verified"] is False


def test_shared_tier_down_renders_as_before(api, trusted_signer, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens: the shared tier steps aside
    settings.ACTION_REGISTRY_SHARED_ANSWERS = True
    response_cache.shared._paused_until = 0.0
    rec = _publish(api, trusted_signer, "files.move")
    for u in _urls(rec):
        assert api.get(u).status_code == 200
    assert response_cache.shared._paused_until > 0
    response_cache.shared._paused_until = 0.0
