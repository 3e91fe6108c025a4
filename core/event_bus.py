"""The live-event bus: one Redis PUBLISH per event, heard once per process and handed to local subscribers.

Every event is published once, as the exact text of its WebSocket frame, on a Redis pub/sub channel. Each
daphne process runs one ``EventHub`` (per event loop) that subscribes to that channel and hands every event to
its own subscribers in memory. Fan-out work is thus one message per process, not one per subscriber: with
channels-redis's core layer a group send stored a copy per consumer, which the process then popped one round
trip at a time (bench/RESULTS.md, "Event fan-out"). No message is stored: a process that is not listening when
an event goes out misses it, and its subscribers fill the gap from the outbox (the hub tells them to whenever
its subscription was broken; see ``EventHub._listen``). The outbox, not this bus, is the source of truth.

Without ``REDIS_URL`` (the embedded ``make run``, unit tests) events go to the hubs of this process directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Protocol

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.connection import parse_url

from core import answer_generation
from core.redis_clients import redis_client

logger = logging.getLogger("action_registry.events")

CHANNEL_PREFIX = "ar.events"
SEND_TIMEOUT_SECONDS = 1.0  # per attempt; a send makes two at most, so a hanging Redis holds a publish <= 2 s
PING_SECONDS = 5.0  # an idle subscription is pinged this often; two silent intervals count as a broken one
RETRY_MIN_SECONDS, RETRY_MAX_SECONDS = 0.2, 5.0


def channel_name(url: str) -> str:
    """Pub/sub channels are global to a Redis server, not per database: name the database in the channel, so
    two registries (or the tests and the bench) sharing one server never hear each other's event ids."""
    return f"{CHANNEL_PREFIX}.db{parse_url(url).get('db', 0)}"


def bus_url() -> str:
    return getattr(settings, "REDIS_URL", "") or ""


# --- sending (any process; sync: the after-commit fan-out and the drain run in request or task threads) ---

def _client(url: str) -> redis.Redis:
    """One client (and connection pool) per process and URL. One immediate retry reconnects a pooled connection
    a restarted Redis dropped; no backoff, so a Redis that is down fails the send at once instead of holding the
    publish request."""
    return redis_client(url, timeout=SEND_TIMEOUT_SECONDS, retry_once=True)


def publish(frames: Sequence[str]) -> None:
    """Send event frames (``event_frame`` texts, in id order) to every process's hub. Raises when Redis does."""
    if not frames:
        return
    url = bus_url()
    if not url:
        for hub in list(_hubs.values()):
            hub.post(frames)
        return
    client, channel = _client(url), channel_name(url)
    # Every event may change what cached answers show: the send also moves core.answer_generation's counter,
    # in the same command, so a publish costs no extra round trip for it.
    bump = answer_generation.enabled()
    if len(frames) == 1:
        if bump:
            _script(client, answer_generation.PUBLISH_BUMP_LUA)(
                keys=[answer_generation.KEY], args=[answer_generation.random_start(), channel, frames[0]])
        else:
            client.publish(channel, frames[0])
        return
    with client.pipeline(transaction=False) as pipe:
        for frame in frames:
            pipe.publish(channel, frame)
        if bump:
            pipe.eval(answer_generation.BUMP_LUA, 1, answer_generation.KEY, answer_generation.random_start())
        pipe.execute()


_scripts: dict[tuple[int, str], object] = {}


def _script(client: redis.Redis, text: str):
    """The registered script (EVALSHA, loaded on first use and again after a Redis restart), per client."""
    script = _scripts.get((id(client), text))
    if script is None:
        script = _scripts[(id(client), text)] = client.register_script(text)
    return script


# --- receiving (daphne: one hub per event loop) -----------------------------------------------------------

class Subscriber(Protocol):
    """What the hub needs of a subscriber (registry.consumers.EventStreamConsumer). Neither may block."""

    def offer(self, event: dict, frame: str) -> None: ...  # a live event and its frame text
    def gap(self) -> None: ...  # events may have been missed: re-read the outbox


_hubs: dict[asyncio.AbstractEventLoop, EventHub] = {}


class EventHub:
    """This process's one listener: hears each event once, parses it once, offers it to every local subscriber."""

    def __init__(self, url: str):
        self.url = url
        self.loop = asyncio.get_running_loop()
        self.subscribers: set[Subscriber] = set()
        self._task = asyncio.ensure_future(self._listen()) if url else None

    @classmethod
    def get(cls) -> EventHub:
        """The hub of the running event loop, started on first use."""
        loop = asyncio.get_running_loop()
        hub = _hubs.get(loop)
        if hub is None:
            for old in [lp for lp in _hubs if lp.is_closed()]:  # test clients run one loop per connection
                del _hubs[old]
            hub = _hubs[loop] = cls(bus_url())
        return hub

    def add(self, subscriber: Subscriber) -> None:
        self.subscribers.add(subscriber)

    def discard(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def dispatch(self, frame: str | bytes) -> None:
        try:
            event = json.loads(frame)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("id"), int):
            logger.warning("event bus: dropped a message that is not an event frame")
            return
        text = frame.decode() if isinstance(frame, bytes) else frame
        for subscriber in list(self.subscribers):
            subscriber.offer(event, text)

    def post(self, frames: Sequence[str]) -> None:
        """From any thread of this process (no Redis): dispatch on the hub's loop."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            self.loop.call_soon_threadsafe(self._dispatch_all, list(frames))

    def _dispatch_all(self, frames: list[str]) -> None:
        for frame in frames:
            self.dispatch(frame)

    def _tell_gap(self) -> None:
        for subscriber in list(self.subscribers):
            subscriber.gap()

    async def _listen(self) -> None:
        """Subscribe, hand out messages, and on any failure start over with a fresh connection.

        redis-py's pub/sub reconnects and re-subscribes on its own, silently: whatever was published in between
        is lost without a sign. So retries are off here and every failure is ours to see; once subscribed again,
        every local subscriber re-reads the outbox (events committed while we were deaf are there, and those
        from now on arrive live). A connection that hangs without an error is caught by the ping.

        Subscribers join the hub before reading their cursor, without waiting for the subscription: the re-read
        after each subscribe covers whatever was published before it took effect."""
        from redis import asyncio as aioredis
        from redis.asyncio.retry import Retry as AsyncRetry

        delay, broken = RETRY_MIN_SECONDS, False
        channel = channel_name(self.url)
        while True:
            client = aioredis.Redis.from_url(self.url, socket_timeout=SEND_TIMEOUT_SECONDS,
                                             socket_connect_timeout=SEND_TIMEOUT_SECONDS,
                                             retry=AsyncRetry(NoBackoff(), 0))
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(channel)
                if broken:
                    logger.warning("event bus: subscribed again; subscribers catch up from the outbox")
                    broken, delay = False, RETRY_MIN_SECONDS
                # Also on the first subscribe: a subscriber may have read its cursor before it was in place.
                self._tell_gap()
                await self._receive(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 (any Redis or socket failure: start over)
                logger.warning("event bus: subscription lost (%s); retrying in %.1fs", exc, delay)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            broken = True  # _receive returns only by raising
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _receive(self, pubsub) -> None:
        ping_due = False  # a PING went out and nothing has come back since
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=PING_SECONDS)
            if message is None:
                if ping_due:
                    raise ConnectionError(f"no answer to PING within {PING_SECONDS:.0f}s")
                await pubsub.ping()
                ping_due = True
                continue
            ping_due = False
            if message.get("type") == "message":
                self.dispatch(message["data"])
