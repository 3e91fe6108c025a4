"""API keys under attack: hashed at rest, constant-time compared, brute force rate limited."""

from __future__ import annotations

import hashlib
import time

import pytest
import redis

from governance import auth
from governance.models import ApiKey
from tests.conftest import make_doc


def test_keys_are_stored_only_as_digests(api_token):
    row = ApiKey.objects.get(name="test-publisher")
    assert api_token not in (row.digest, row.prefix, row.name)
    assert row.digest == hashlib.sha256(api_token.encode()).hexdigest()
    assert api_token.split("_")[1] == row.prefix


@pytest.fixture(params=["in-process cache", "redis"])
def failure_counter(request, settings):
    """The failure counter both ways: Django's cache (no REDIS_URL) and a real Redis shared by processes."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).delete("ar:authfail:127.0.0.1")
        auth._recent.clear()
        settings.REDIS_URL = url
        yield redis.Redis.from_url(url)
        redis.Redis.from_url(url).delete("ar:authfail:127.0.0.1")
        auth._recent.clear()
    else:
        yield None


def test_brute_force_is_rate_limited(api, trusted_signer, settings, failure_counter):
    settings.ACTION_REGISTRY = {**settings.ACTION_REGISTRY, "AUTH_FAILURES_PER_MINUTE": 5}
    prefix = ApiKey.objects.get(name="test-publisher").prefix
    envelope = trusted_signer.sign(make_doc())
    statuses = [api.publish(envelope, token=f"ar_{prefix}_guess{i}").status_code for i in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    resp = api.publish(envelope, token=f"ar_{prefix}_guess-more")
    assert resp.json()["error"]["code"] == "rate_limited"
    # Even the right key waits out the window from this address: guessing buys nothing.
    assert api.publish(envelope).status_code == 429
    if failure_counter is not None:  # counted in Redis, where every worker process reads it, with a window
        assert int(failure_counter.get("ar:authfail:127.0.0.1")) == 5  # refused ones are not even checked
        assert 0 < failure_counter.ttl("ar:authfail:127.0.0.1") <= 60


def test_failures_counted_by_another_process_refuse_here_within_a_second(api, trusted_signer, settings, redis_url):
    """Each process keeps the count it last read for RECENT_SECONDS instead of asking Redis on every request;
    failures another process counted must still refuse here once that time has passed."""
    settings.ACTION_REGISTRY = {**settings.ACTION_REGISTRY, "AUTH_FAILURES_PER_MINUTE": 5}
    settings.REDIS_URL = redis_url
    counter = redis.Redis.from_url(redis_url)
    counter.delete("ar:authfail:127.0.0.1")
    auth._recent.clear()
    try:
        assert api.publish(trusted_signer.sign(make_doc("ssh.a"))).status_code == 201  # reads 0, keeps it
        counter.set("ar:authfail:127.0.0.1", 5, ex=60)  # another process counted five failures
        time.sleep(auth.RECENT_SECONDS + 0.1)
        resp = api.publish(trusted_signer.sign(make_doc("ssh.b")))
        assert resp.status_code == 429 and resp.json()["error"]["code"] == "rate_limited"
    finally:
        counter.delete("ar:authfail:127.0.0.1")
        auth._recent.clear()


def test_wrong_prefix_and_right_secret_shape_is_refused(api, trusted_signer, api_token):
    _, prefix, secret = api_token.split("_", 2)
    forged = f"ar_{'0' * len(prefix)}_{secret}"
    assert api.publish(trusted_signer.sign(make_doc()), token=forged).status_code == 401
    assert api.publish(trusted_signer.sign(make_doc()), token=api_token[:-1] + "x").status_code == 401


def test_admin_forms_need_csrf(db, client):
    from django.contrib.auth.models import User
    from django.test import Client
    User.objects.create_superuser("root", password="pw-root-123")
    strict = Client(enforce_csrf_checks=True)
    strict.login(username="root", password="pw-root-123")
    resp = strict.post("/admin/governance/apikey/add/", {"name": "x", "namespaces": '["ssh"]'})
    assert resp.status_code == 403
    assert not ApiKey.objects.filter(name="x").exists()


# --- the publish endpoint's one-second key cache: every change still counts on the very next publish ---------

def _versions() -> int:
    from registry.models import ActionVersion
    return ActionVersion.objects.count()


def test_a_publishing_key_is_read_once_per_second_not_per_request(api, trusted_signer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    auth._key_cache.clear()
    assert api.publish(trusted_signer.sign(make_doc("ssh.a"))).status_code == 201  # reads and keeps the key
    with CaptureQueriesContext(connection) as queries:
        assert api.publish(trusted_signer.sign(make_doc("ssh.b"))).status_code == 201
    statements = [q["sql"] for q in queries.captured_queries]
    assert not any("governance_apikey" in sql for sql in statements), statements  # no key read
    assert any("registry_publish" in sql for sql in statements)


def test_a_revoked_key_kept_by_the_process_cannot_publish(api, trusted_signer, make_api_token):
    from governance.services import api_key_revoke

    auth._key_cache.clear()
    token = make_api_token("soon-gone", ["*"])
    assert api.publish(trusted_signer.sign(make_doc("ssh.a")), token=token).status_code == 201
    assert any(key.name == "soon-gone" for key, _ in auth._key_cache.values())  # kept for the next second
    api_key_revoke(name="soon-gone", actor="test")
    before = _versions()
    resp = api.publish(trusted_signer.sign(make_doc("ssh.b")), token=token)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "api_key_revoked"
    assert _versions() == before
    assert not any(key.name == "soon-gone" for key, _ in auth._key_cache.values())


def test_a_signing_key_revoked_after_the_key_was_kept_is_refused(api, trusted_signer):
    from governance.services import signing_key_revoke

    auth._key_cache.clear()
    assert api.publish(trusted_signer.sign(make_doc("ssh.a"))).status_code == 201  # key + trust state kept
    signing_key_revoke(key=trusted_signer.model, actor="test", reason="lost laptop")
    before = _versions()
    resp = api.publish(trusted_signer.sign(make_doc("ssh.b")))
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "key_revoked"
    assert _versions() == before


def test_namespace_changes_of_a_kept_key_count_at_once(api, trusted_signer, make_api_token):
    auth._key_cache.clear()
    token = make_api_token("narrow", ["ssh"])
    assert api.publish(trusted_signer.sign(make_doc("ssh.a")), token=token).status_code == 201
    ApiKey.objects.filter(name="narrow").update(namespaces=["ssh", "web"])  # widened: allowed now
    assert api.publish(trusted_signer.sign(make_doc("web.fetch")), token=token).status_code == 201
    ApiKey.objects.filter(name="narrow").update(namespaces=["web"])  # narrowed: ssh is no longer allowed
    resp = api.publish(trusted_signer.sign(make_doc("ssh.b")), token=token)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "namespace_forbidden"


def test_the_publish_transaction_refuses_a_stale_key_or_trust_state(db, trusted_signer, api_token):
    """registry_publish itself, below the retry: it writes nothing when what the request decided on moved."""
    from action_registry.document import parse_envelope
    from governance import selectors
    from governance.services import signing_key_add
    from registry import services

    key = selectors.api_key_by_prefix(prefix=api_token.split("_")[1])
    envelope = parse_envelope(trusted_signer.sign(make_doc("ssh.a")))
    snapshot = selectors.trust_snapshot()
    signing = selectors.signing_key_model(snapshot, snapshot.models[(trusted_signer.kid, trusted_signer.alg)])
    before = _versions()
    stale_key = ApiKey.objects.get(pk=key.pk)
    stale_key.namespaces = ["ssh"]  # not what is stored
    with pytest.raises(services.StaleAuthorization):
        services._store(envelope=envelope, key=signing, api_key=stale_key, trust=snapshot.stamp)
    signing_key_add(kid="another-root", alg="Ed25519", public_key=trusted_signer.public_b64, actor="test")
    with pytest.raises(services.StaleAuthorization):  # the trust state moved past the snapshot
        services._store(envelope=envelope, key=signing, api_key=key, trust=snapshot.stamp)
    assert _versions() == before
    fresh = selectors.trust_snapshot()
    assert services._store(envelope=envelope, key=signing, api_key=key, trust=fresh.stamp).created
    assert _versions() == before + 1
