"""The event bus's hub: one parse per event for all of a process's subscribers, and no silent deafness."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from core import event_bus, outbox
from core.event_bus import EventHub
from tests.registry.test_event_stream import ThrowawayRedis


class Recorder:
    def __init__(self) -> None:
        self.offers: list[tuple[dict, str]] = []
        self.gaps = 0

    def offer(self, event: dict, frame: str) -> None:
        self.offers.append((event, frame))

    def gap(self) -> None:
        self.gaps += 1


async def _until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _frame(event_id: int) -> str:
    return outbox.event_frame({"id": event_id, "kind": "test.k", "namespace": "ssh", "subject": "s",
                               "payload": {}, "created_at": "2026-01-01T00:00:00Z", "request_id": ""})


def test_without_redis_a_frame_is_parsed_once_for_every_local_subscriber(settings):
    settings.REDIS_URL = ""

    async def scenario() -> list[Recorder]:
        hub = EventHub.get()
        assert EventHub.get() is hub  # one per event loop
        subscribers = [Recorder(), Recorder(), Recorder()]
        for sub in subscribers:
            hub.add(sub)
        hub.discard(subscribers[2])
        # From a worker thread, as the after-commit fan-out runs; junk is dropped, not handed out.
        await asyncio.to_thread(event_bus.publish, [_frame(7), "not json", "[1, 2]", '{"no": "id"}', _frame(8)])
        await _until(lambda: len(subscribers[0].offers) == 2)
        await asyncio.sleep(0.05)
        return subscribers

    a, b, gone = asyncio.run(scenario())
    assert [e["id"] for e, _ in a.offers] == [7, 8] and gone.offers == []
    for (ea, fa), (eb, fb) in zip(a.offers, b.offers, strict=True):
        assert ea is eb and fa is fb  # parsed once, the frame text built once: shared, not per subscriber


@pytest.fixture
def throwaway_redis():
    server = ThrowawayRedis()
    server.start()
    yield server
    server.stop()


def test_a_hub_that_hears_nothing_back_reconnects_and_reports_a_gap(throwaway_redis, settings, monkeypatch):
    """A connection that hangs without an error (here: Redis paused) is caught by the unanswered PING."""
    settings.REDIS_URL = throwaway_redis.url
    monkeypatch.setattr(event_bus, "PING_SECONDS", 0.2)
    admin = redis.Redis.from_url(throwaway_redis.url)

    async def scenario() -> Recorder:
        hub = EventHub(throwaway_redis.url)
        sub = Recorder()
        hub.add(sub)
        channel = event_bus.channel_name(throwaway_redis.url)
        await _until(lambda: admin.pubsub_numsub(channel)[0][1] == 1)
        await asyncio.to_thread(event_bus.publish, [_frame(1), _frame(2)])
        await _until(lambda: len(sub.offers) == 2)
        assert sub.gaps == 1  # the first subscribe: whatever went out before it is in the outbox
        admin.client_pause(1000)  # every client's commands wait, the hub's PING too
        await _until(lambda: sub.gaps == 2, timeout=5)
        await asyncio.to_thread(event_bus.publish, [_frame(3)])
        await _until(lambda: len(sub.offers) == 3)
        hub._task.cancel()
        return sub

    sub = asyncio.run(scenario())
    assert [e["id"] for e, _ in sub.offers] == [1, 2, 3] and sub.gaps == 2
    admin.close()


@pytest.mark.django_db(transaction=True)
def test_without_redis_a_committed_event_reaches_a_socket_of_the_same_process(settings, api_token):
    """The embedded ``make run``: one daphne, no Redis; the after-commit fan-out runs in a request thread."""
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.db import connections, transaction

    from config.asgi import application
    from core.services import event_emit

    settings.REDIS_URL = ""

    def emit() -> int:
        with transaction.atomic():
            return event_emit(kind="test.local", namespace="ssh", subject="here").id

    async def scenario() -> tuple[int, dict]:
        ws = WebsocketCommunicator(application, f"/v1/events?api_key={api_token}&namespace=ssh")
        assert (await ws.connect(timeout=5))[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "welcome"
        assert (await ws.receive_json_from(timeout=5))["type"] == "live"
        event_id = await database_sync_to_async(emit)()
        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        await database_sync_to_async(connections.close_all)()
        return event_id, message

    event_id, message = asyncio.run(scenario())
    assert (message["type"], message["id"], message["subject"]) == ("event", event_id, "here")


def test_the_send_survives_a_dropped_connection_and_a_flushed_script_cache(settings, redis_url):
    """The send keeps its own connection per thread (outside the client's pool): a connection Redis dropped is
    replaced at once, a script Redis forgot is loaded again, and every frame still goes out with its note."""
    settings.REDIS_URL = redis_url
    admin = redis.Redis.from_url(redis_url)
    key = event_bus.sent_key(redis_url)
    admin.delete(key)
    listener = admin.pubsub()
    listener.subscribe(event_bus.channel_name(redis_url))
    assert listener.get_message(timeout=2)["type"] == "subscribe"
    try:
        assert event_bus.publish([_frame(1)], ["1:100"])
        admin.client_kill_filter(_type="normal", skipme=True)  # drops the sender's connection (and the listener's)
        listener = admin.pubsub()
        listener.subscribe(event_bus.channel_name(redis_url))
        assert listener.get_message(timeout=2)["type"] == "subscribe"
        assert event_bus.publish([_frame(2)], ["2:200"])
        admin.script_flush()
        assert event_bus.publish([_frame(3)], ["3:300"])
        heard = []
        for _ in range(2):
            message = listener.get_message(timeout=2)
            heard.append(message["data"].decode())
        assert heard == [_frame(2), _frame(3)]
        assert admin.smembers(key) == {b"1:100", b"2:200", b"3:300"}
    finally:
        listener.close()
        admin.delete(key)
