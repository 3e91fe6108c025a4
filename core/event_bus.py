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
import functools
import json
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.exceptions import NoScriptError

from core import answer_generation
from core.redis_clients import redis_client

logger = logging.getLogger("action_registry.events")

CHANNEL_PREFIX = "ar.events"
SEND_TIMEOUT_SECONDS = 1.0  # per attempt; a send makes two at most, so a hanging Redis holds a publish <= 2 s
PING_SECONDS = 5.0  # an idle subscription is pinged this often; two silent intervals count as a broken one
RETRY_MIN_SECONDS, RETRY_MAX_SECONDS = 0.2, 5.0


@functools.lru_cache(maxsize=16)
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


# The send, one command whatever it carries: PUBLISH each frame, note the events as sent (unless the set is at
# its cap: then the drain re-sends them, which subscribers ignore), and move core.answer_generation's counter
# (every event may change what cached answers show). KEYS: the counter, the sent set. ARGV: the counter's random
# start, the channel, the cap, bump or not, the number of frames, the number of notes, the frames, the notes.
SEND_LUA = ("""
local frames, notes = tonumber(ARGV[5]), tonumber(ARGV[6])
for i = 1, frames do redis.call('PUBLISH', ARGV[2], ARGV[6 + i]) end
if notes > 0 and redis.call('SCARD', KEYS[2]) < tonumber(ARGV[3]) then
  for i = 1, notes do redis.call('SADD', KEYS[2], ARGV[6 + frames + i]) end
end
if ARGV[4] ~= '1' then return 0 end
""" + answer_generation.BUMP_LUA)  # the counter's own bump: KEYS[1] and ARGV[1] are its key and random start
SENT_CAP = 1_000_000  # notes kept at most (about 60 MB), should the drain stop running
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@functools.lru_cache(maxsize=16)
def sent_key(url: str) -> str:
    """The set of events the bus has sent and the outbox has not yet marked (a key of the bus's database)."""
    return f"{channel_name(url)}:sent"


def sent_note(event_id: int, created_at: datetime) -> str:
    """An event's entry in the sent set: its id and creation time in microseconds, so that a database restored
    from a backup (which hands out ids again) never takes another event's note for its own."""
    return f"{event_id}:{(created_at - _EPOCH) // _MICROSECOND}"


def publish(frames: Sequence[str], notes: Sequence[str] = ()) -> bool:
    """Send event frames (``event_frame`` texts, in id order) to every process's hub; with ``notes``
    (``sent_note`` of each), record in the same command that they went out, for the outbox drain to mark them
    dispatched in bulk (core.outbox). Returns whether they were noted: False without Redis (then the caller marks
    the rows itself). Raises when Redis does."""
    url = bus_url()
    if not url:
        if frames:
            for hub in list(_hubs.values()):
                hub.post(frames)
        return False
    if not frames:
        return True
    client, channel = _client(url), channel_name(url)
    bump = answer_generation.enabled()
    _evalsha(client, _script(client, SEND_LUA), [answer_generation.KEY, sent_key(url)],
             [answer_generation.random_start(), channel, SENT_CAP, "1" if bump else "0", len(frames), len(notes),
              *frames, *notes])
    return True


def sent_among(notes: Sequence[str]) -> set[str]:
    """Which of these notes the sent set holds (none without Redis). Raises when Redis does."""
    url = bus_url()
    if not url or not notes:
        return set()
    found = _client(url).smismember(sent_key(url), list(notes))
    return {note for note, hit in zip(notes, found, strict=True) if hit}


def sent_forget(notes: Sequence[str]) -> None:
    """Drop notes of events the outbox has marked dispatched."""
    url = bus_url()
    if url and notes:
        _client(url).srem(sent_key(url), *notes)


_scripts: dict[tuple[int, str], object] = {}
_senders = threading.local()


def _evalsha(client: redis.Redis, script, keys: list, args: list):
    """``script(keys=keys, args=args)`` on a connection this thread keeps for its sends, outside the client's
    pool: every publish sends one command, and the pool's checkout, release and retry wrappers cost a third of
    it. Same behaviour as the client's: one immediate retry after a dropped connection (a restarted Redis),
    the script loaded again after NOSCRIPT, the client's timeouts."""
    conns = getattr(_senders, "conns", None)
    if conns is None:
        conns = _senders.conns = {}
    conn = conns.get(id(client))
    if conn is None:
        conn = conns[id(client)] = client.connection_pool.make_connection()
    try:
        return _evalsha_once(conn, script.sha, keys, args)
    except NoScriptError:
        client.script_load(script.script)
    except (redis.ConnectionError, redis.TimeoutError):
        pass  # the connection was closed: the retry opens a new one
    return _evalsha_once(conn, script.sha, keys, args)


def _evalsha_once(conn, sha: str, keys: list, args: list):
    try:
        conn.send_command("EVALSHA", sha, len(keys), *keys, *args)
        return conn.read_response()
    except (redis.ConnectionError, redis.TimeoutError):
        conn.disconnect()  # a half-read reply must not answer the next command
        raise


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
