"""The WebSocket event stream end to end: real daphne processes, real Redis, the test database.

Two subscribers on two processes both get a publish (each process subscribes to the bus once, however many
subscribers it has); a subscriber that misses three events gets exactly those three on reconnect; a publish
while Redis is down succeeds and its event arrives once Redis is back; a process whose subscription Redis
dropped notices and has its subscribers re-read the outbox.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from django.db import transaction
from django.test import override_settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from core import event_bus
from core.models import Event
from core.services import event_emit
from tests.conftest import ROOT, free_port, make_doc, test_database_url, wait_for_port

pytestmark = pytest.mark.slow
DAPHNE = str(Path(sys.executable).parent / "daphne")
WAIT = 10.0


def _daphne_start(redis_url: str, **extra_env: str) -> tuple[int, subprocess.Popen]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": test_database_url(), "DJANGO_SETTINGS_MODULE": "config.settings",
           "REDIS_URL": redis_url, "ACTION_REGISTRY_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "LOG_LEVEL": "WARNING", **extra_env}
    env.pop("PYTEST_VERSION", None)
    proc = subprocess.Popen([DAPHNE, "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return port, proc


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:  # daphne waits for lingering connections; nothing to keep here
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def two_servers(django_db_setup):
    """Two daphne processes on the test database and one Redis, shared by this module's tests (starting
    a Django process is the slow part). Started together, stopped at the end."""
    redis_url = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15")  # as the redis_url fixture
    started = [_daphne_start(redis_url), _daphne_start(redis_url)]
    try:
        for port, proc in started:
            wait_for_port(port, timeout=60, proc=proc)
        yield [port for port, _ in started]
    finally:
        _stop([proc for _, proc in started])


@pytest.fixture
def fresh_trust_state(transactional_db):
    """Servers cache the trust store per TrustState.version; the flush between tests restarts that counter,
    so give each test a version no earlier test had."""
    from governance.models import TrustState

    TrustState.objects.update_or_create(pk=1, defaults={"version": time.time_ns() // 1000})


@pytest.fixture
def daphne(transactional_db):
    """``start(redis_url, **env)`` -> port of a daphne process of this test's own."""
    procs = []

    def start(redis_url: str, **extra_env: str) -> int:
        port, proc = _daphne_start(redis_url, **extra_env)
        procs.append(proc)
        wait_for_port(port, timeout=60, proc=proc)
        return port

    yield start
    _stop(procs)


class ThrowawayRedis:
    """A redis-server of our own on a free port, to stop and start (the shared one on 6379 stays up)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(self.port),
                                      "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def throwaway_redis():
    redis = ThrowawayRedis()
    redis.start()
    yield redis
    redis.stop()


class Subscriber:
    """A WebSocket client of /v1/events that records every event it receives."""

    def __init__(self, port: int, token: str, **params):
        query = "&".join(f"{k}={v}" for k, v in {"api_key": token, **params}.items())
        self.ws = connect(f"ws://127.0.0.1:{port}/v1/events?{query}", origin=f"http://127.0.0.1:{port}",
                          open_timeout=WAIT, legacy=True)
        self.welcome = self._next()
        assert self.welcome["type"] == "welcome", self.welcome
        self.events: list[dict] = []
        while True:  # the replay, up to the "live" marker
            message = self._next()
            if message["type"] == "live":
                break
            self.events.append(message)

    def _next(self, timeout: float = WAIT) -> dict:
        return json.loads(self.ws.recv(timeout=timeout))

    def wait_for(self, count: int, timeout: float = WAIT) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            message = self._next(timeout=max(0.01, deadline - time.monotonic()))
            if message["type"] == "event":
                self.events.append(message)
        return self.events

    def quiet_for(self, seconds: float) -> bool:
        """True when no further event arrives within ``seconds``."""
        try:
            message = self._next(timeout=seconds)
        except TimeoutError:
            return True
        self.events.append(message)
        return False

    def close(self) -> None:
        self.ws.close()


def _publish(port: int, token: str, envelope: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}/v1/actions", json=envelope, timeout=WAIT,
                      headers={"Authorization": f"Bearer {token}", **headers})


def _delivered(port: int, kind: str) -> float:
    """ar_events_delivered_total{kind, channel="websocket"} of that daphne process (its own /metrics)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=WAIT).text
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == "ar_events_delivered_total" and s.labels == {"kind": kind, "channel": "websocket"})


def test_two_subscribers_on_two_processes_each_get_a_publish_once(two_servers, fresh_trust_state, redis_url,
                                                                    api_token, trusted_signer):
    first, second = two_servers
    a = Subscriber(first, api_token, namespace="ssh")
    b = Subscriber(second, api_token)
    other = Subscriber(second, api_token, namespace="docker")
    delivered_before = [_delivered(port, "action.published") for port in (first, second)]
    response = _publish(first, api_token, trusted_signer.sign(make_doc("ssh.exec", "1.0.0")),
                        **{"X-Request-ID": "rid-stream-1"})
    assert response.status_code == 201, response.text
    event_id = Event.objects.get(kind="action.published", subject="ssh.exec@1.0.0").id
    for sub in (a, b):
        [event] = sub.wait_for(1)
        assert (event["id"], event["kind"], event["subject"]) == (event_id, "action.published", "ssh.exec@1.0.0")
        assert event["payload"]["content_hash"] == response.json()["content_hash"]
        assert event["request_id"] == "rid-stream-1"  # the publish's correlation id travels with the event
    # The bus noted the event as sent: the drain marks the row dispatched without sending it again, and drops
    # the note. Were it to send it anyway, every subscriber would still have it once.
    event = Event.objects.get(pk=event_id)
    assert event.dispatched_at is None
    note = event_bus.sent_note(event.id, event.created_at)
    from core.outbox import events_drain
    with override_settings(REDIS_URL=redis_url):
        assert event_bus.sent_among([note]) == {note}
        assert events_drain(settle_seconds=0) == 1
        assert event_bus.sent_among([note]) == set()
    assert Event.objects.get(pk=event_id).dispatched_at is not None
    assert a.quiet_for(0.5) and b.quiet_for(0.5)
    assert other.quiet_for(0.1)  # filtered by namespace
    # Counted once per subscriber that got it: not for the filtered one, not for the drain's duplicate.
    assert [_delivered(port, "action.published") - before
            for port, before in zip((first, second), delivered_before, strict=True)] == [1, 1]
    # Fan-out is per process: one subscription to the bus for each of the two, not one per subscriber.
    bus = redis.Redis.from_url(redis_url)
    assert bus.pubsub_numsub(event_bus.channel_name(redis_url)) == [(event_bus.channel_name(redis_url).encode(), 2)]
    bus.close()
    for sub in (a, b, other):
        sub.close()


def test_reconnect_with_since_gets_exactly_the_missed_events_in_order(two_servers, fresh_trust_state, api_token,
                                                                       trusted_signer):
    port = two_servers[1]
    sub = Subscriber(port, api_token, namespace="ssh")
    assert _publish(port, api_token, trusted_signer.sign(make_doc("ssh.exec", "1.0.0"))).status_code == 201
    [seen] = sub.wait_for(1)
    sub.close()
    missed = [f"1.0.{i}" for i in (1, 2, 3)]
    for version in missed:
        assert _publish(port, api_token, trusted_signer.sign(make_doc("ssh.exec", version))).status_code == 201
    _publish(port, api_token, trusted_signer.sign(make_doc("docker.build", "1.0.0")))  # another namespace

    again = Subscriber(port, api_token, namespace="ssh", since=seen["id"])
    assert [e["subject"] for e in again.events] == [f"ssh.exec@{v}" for v in missed]
    ids = [e["id"] for e in again.events]
    assert ids == sorted(ids) and ids[0] > seen["id"]
    assert again.quiet_for(0.3)
    # Then live events follow the replay.
    assert _publish(port, api_token, trusted_signer.sign(make_doc("ssh.exec", "1.0.4"))).status_code == 201
    assert again.wait_for(4)[-1]["subject"] == "ssh.exec@1.0.4"
    again.close()


def test_publish_while_redis_is_down_succeeds_and_the_event_arrives_after(daphne, throwaway_redis, api_token,
                                                                           fresh_trust_state, trusted_signer):
    # No periodic re-read in the consumer: delivery after the outage must come from the outbox drain.
    port = daphne(throwaway_redis.url, ACTION_REGISTRY_EVENTS_POLL_SECONDS="0")
    sub = Subscriber(port, api_token)
    assert _publish(port, api_token, trusted_signer.sign(make_doc("ssh.exec", "1.0.0"))).status_code == 201
    [before] = sub.wait_for(1)

    throwaway_redis.stop()
    response = _publish(port, api_token, trusted_signer.sign(make_doc("ssh.exec", "2.0.0")))
    assert response.status_code == 201, response.text
    during = Event.objects.get(kind="action.published", subject="ssh.exec@2.0.0")
    assert during.dispatched_at is None  # written in the publish transaction, not yet sent

    throwaway_redis.start()
    # The subscriber stayed connected: its process's hub subscribes again once Redis answers, and the
    # subscriber reads the outbox.
    assert [e["id"] for e in sub.wait_for(2)] == [before["id"], during.id]
    # The drain (a beat task in production) then marks both rows dispatched, sending both: the restart lost the
    # bus's note that the first went out (Redis here keeps nothing on disk). No subscriber sees either twice.
    from core.outbox import events_drain
    first = Event.objects.get(pk=before["id"])
    notes = [event_bus.sent_note(e.id, e.created_at) for e in (first, during)]
    with override_settings(REDIS_URL=throwaway_redis.url):
        assert event_bus.sent_among(notes) == set()
        assert events_drain(settle_seconds=0) == 2
    assert Event.objects.filter(pk__in=[first.pk, during.pk], dispatched_at__isnull=True).count() == 0
    assert sub.quiet_for(0.5)
    # And live delivery through the restarted Redis works again.
    assert _publish(port, api_token, trusted_signer.sign(make_doc("ssh.exec", "3.0.0"))).status_code == 201
    assert sub.wait_for(3)[-1]["subject"] == "ssh.exec@3.0.0"
    sub.close()


def test_a_dropped_subscription_is_noticed_and_the_gap_read_from_the_outbox(daphne, throwaway_redis, api_token,
                                                                           fresh_trust_state):
    """redis-py re-subscribes on its own and says nothing: whatever was published meanwhile would be lost
    until the next event or poll. The hub must see the break and have its subscribers re-read."""
    port = daphne(throwaway_redis.url, ACTION_REGISTRY_EVENTS_POLL_SECONDS="0")
    sub = Subscriber(port, api_token)
    bus = redis.Redis.from_url(throwaway_redis.url)
    channel = event_bus.channel_name(throwaway_redis.url)
    deadline = time.monotonic() + WAIT
    while bus.pubsub_numsub(channel)[0][1] != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # the re-read every subscribe triggers (this is the hub's first) has long finished
    # An event whose PUBLISH nobody heard (this test process has no REDIS_URL: its fan-out reaches no one).
    with transaction.atomic():
        unheard = event_emit(kind="test.unheard", subject="gap")
    assert sub.quiet_for(0.3)
    [hub] = [c["id"] for c in bus.client_list(_type="pubsub")]
    bus.client_kill_filter(_id=hub)
    [event] = sub.wait_for(1)
    assert (event["id"], event["kind"]) == (unheard.id, "test.unheard")
    bus.close()
    sub.close()


def test_bad_api_key_is_refused_with_4401(two_servers, transactional_db):
    port = two_servers[0]
    with connect(f"ws://127.0.0.1:{port}/v1/events?api_key=ar_nope_nope", origin=f"http://127.0.0.1:{port}",
                 open_timeout=WAIT) as ws:
        assert json.loads(ws.recv(timeout=WAIT))["code"] == "invalid_api_key"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
    assert closed.value.rcvd.code == 4401
