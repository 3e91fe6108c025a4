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
