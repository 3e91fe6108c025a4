"""Cached answers confirmed by the change counter in Redis (core/answer_generation.py) instead of a database
probe per request: served without a query while nothing changed, and every change still shows on the very next
request, because each moves the counter after it commits and before its own request returns."""

from __future__ import annotations

import time

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import answer_generation
from governance.services import signing_key_revoke
from registry.models import ActionVersion, Deprecation
from tests.conftest import make_doc

pytestmark = pytest.mark.django_db(transaction=True)
HEADERS = ("Content-Type", "Content-Length", "X-Action-Deprecated", "X-Action-Successor", "Deprecation", "Link")  # changes must commit: the counter moves after commit


@pytest.fixture
def counter(settings, redis_url):
    """REDIS_URL set for this process (so its writes move the counter and its reads use it); the counter's key
    removed before and after."""
    settings.REDIS_URL = redis_url
    client = redis.Redis.from_url(redis_url)
    client.delete(answer_generation.KEY)
    answer_generation._redis._paused_until = 0.0
    yield client
    client.delete(answer_generation.KEY)
    client.close()
    answer_generation._redis._paused_until = 0.0


def _publish(api, signer, name="ssh.exec", version="1.0.0") -> dict:
    resp = api.publish(signer.sign(make_doc(name, version)))
    assert resp.status_code == 201, resp.content
    return resp.json()


def _get(api, path):
    """The response and how many SQL statements it took."""
    with CaptureQueriesContext(connection) as ctx:
        resp = api.get(path)
    assert resp.status_code == 200, resp.content
    return resp, len(ctx.captured_queries)


def test_an_unchanged_answer_is_served_without_a_query(api, trusted_signer, counter):
    rec = _publish(api, trusted_signer)
    assert counter.get(answer_generation.KEY) is not None  # the publish's event fan-out started the counter
    for path in ("/v1/actions/ssh.exec/versions/1.0.0", "/v1/actions/ssh.exec/versions/1.0.0/verify",
                 f"/v1/actions/by-hash/{rec['content_hash']}"):
        first, rendered = _get(api, path)
        again, queries = _get(api, path)
        assert rendered >= 1 and queries == 0
        assert (again.content, again["Content-Type"]) == (first.content, first["Content-Type"])
        # Served before routing (registry.middleware): same headers around it, same route in the log and metrics.
        assert again.wsgi_request.resolver_match.route == first.wsgi_request.resolver_match.route
        assert again.wsgi_request.resolver_match.route.startswith("v1/actions/")
        assert [again.get(h) for h in HEADERS] == [first.get(h) for h in HEADERS]
        assert again["X-Content-Type-Options"] == "nosniff" and again["X-Request-ID"]
    # A query string, or a path the router would not match, goes the usual way (and gets the usual answer).
    assert api.get("/v1/actions/ssh.exec/versions/1.0.0/").status_code == 404
    assert _get(api, "/v1/actions/ssh.exec/versions/1.0.0?x=1")[0].json()["version"] == "1.0.0"


def test_every_change_shows_on_the_next_request(api, trusted_signer, counter):
    _publish(api, trusted_signer)
    fetch, verify = "/v1/actions/ssh.exec/versions/1.0.0", "/v1/actions/ssh.exec/versions/1.0.0/verify"
    for _ in range(2):
        assert _get(api, fetch)[0].json()["latest"] and _get(api, verify)[0].json()["verified"]
    assert _get(api, fetch)[1] == 0

    moved = int(counter.get(answer_generation.KEY))
    _publish(api, trusted_signer, "ssh.exec", "1.1.0")  # a newer release: 1.0.0 is no longer the latest
    assert int(counter.get(answer_generation.KEY)) > moved
    assert _get(api, fetch)[0].json()["latest"] is False

    resp = api.post("/v1/actions/ssh.exec/versions/1.0.0/deprecate", {"reason": "Use 1.1", "successor": "1.1.0"})
    assert resp.status_code == 200, resp.content
    fetched = _get(api, fetch)[0]
    assert fetched["X-Action-Successor"] == "1.1.0" and _get(api, verify)[0].json()["deprecated"] is True
    assert api.post("/v1/actions/ssh.exec/versions/1.0.0/undeprecate", {"reason": "no"}).status_code == 200
    assert "X-Action-Deprecated" not in _get(api, fetch)[0]

    signing_key_revoke(key=trusted_signer.model, actor="test", reason="compromised")
    assert (_get(api, verify)[0].json()["key_status"], _get(api, fetch)[0].json()["verification"]["verified"]) \
        == ("revoked", False)


def test_a_change_that_did_not_move_the_counter_shows_within_the_recheck_interval(api, trusted_signer, counter,
                                                                                   settings):
    """A write path that forgot to call answers_changed (here: a row written behind the services' back), or a
    bump Redis lost: the answer is stale, but for at most ACTION_REGISTRY_ANSWER_RECHECK_SECONDS."""
    settings.ACTION_REGISTRY_ANSWER_RECHECK_SECONDS = 0.5
    _publish(api, trusted_signer)
    fetch = "/v1/actions/ssh.exec/versions/1.0.0"
    _get(api, fetch)
    Deprecation.objects.create(version=ActionVersion.objects.get(action__name="ssh.exec", version="1.0.0"),
                               reason="behind the services' back", deprecated_by="test", deprecated_at=timezone.now())
    stale, queries = _get(api, fetch)
    assert queries == 0 and "X-Action-Deprecated" not in stale
    time.sleep(0.6)
    assert _get(api, fetch)[0]["X-Action-Deprecated"] == "true"


def test_without_a_readable_counter_every_request_probes(api, trusted_signer, counter, settings):
    _publish(api, trusted_signer)
    fetch = "/v1/actions/ssh.exec/versions/1.0.0"
    _get(api, fetch)
    counter.delete(answer_generation.KEY)  # Redis restarted or flushed: the counter is gone...
    assert _get(api, fetch)[1] == 1  # ...so the state probe decides, and the counter starts again (randomly)
    assert int(counter.get(answer_generation.KEY)) > 2**20
    assert _get(api, fetch)[1] == 0
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    answer_generation._redis._paused_until = 0.0
    resp, queries = _get(api, fetch)
    assert queries == 1 and resp.json()["verification"]["verified"] is True


def test_the_counter_starts_at_a_random_value_so_it_cannot_count_back_to_an_old_one(counter):
    starts = set()
    for _ in range(3):
        counter.delete(answer_generation.KEY)
        answer_generation._bump()
        starts.add(int(counter.get(answer_generation.KEY)))
    assert len(starts) == 3 and min(starts) > 2**20
    answer_generation._bump()
    assert int(counter.get(answer_generation.KEY)) in {s + 1 for s in starts}
