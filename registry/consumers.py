"""WebSocket event stream (ws://host/v1/events): replay from the outbox, then live events, each exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from action_registry.errors import RegistryError
from core import metrics, outbox
from core.event_bus import EventHub
from governance.auth import api_key_authenticate

SUBPROTOCOL = "action-registry.v1"
BEARER_SUBPROTOCOL_PREFIX = "bearer."
FILTER_MAX = 50
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400
INBOX_MAX = 10_000  # live events queued for one subscriber; past that it drops them and re-reads the outbox
logger = logging.getLogger("action_registry.events")


def _split(values: list[str]) -> tuple[str, ...]:
    items = [item.strip() for value in values for item in value.split(",") if item.strip()]
    return tuple(dict.fromkeys(items))


def _filter(namespaces: list[str], kinds: list[str]) -> outbox.EventFilter:
    ns, ks = _split(namespaces), _split(kinds)
    if len(ns) > FILTER_MAX or len(ks) > FILTER_MAX or any(len(x) > 200 for x in ns + ks):
        raise ValueError(f"at most {FILTER_MAX} namespaces and {FILTER_MAX} kinds")
    return outbox.EventFilter(namespaces=() if "*" in ns else ns, kinds=() if "*" in ks else ks)


def _bearer(scope: dict, params: dict[str, list[str]]) -> str:
    """The API key from ``?api_key=``, ``Authorization: Bearer``, or a ``bearer.<key>`` subprotocol."""
    if params.get("api_key"):
        return params["api_key"][0]
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    for proto in scope.get("subprotocols", []):
        if proto.startswith(BEARER_SUBPROTOCOL_PREFIX):
            return proto[len(BEARER_SUBPROTOCOL_PREFIX):]
    return ""


class EventStreamConsumer(AsyncJsonWebsocketConsumer):
    """Keeps a cursor (the highest event id accounted for). Live messages at cursor + 1 are sent as they
    come; any other jump is filled from the outbox, and ids at or below the cursor are dropped, so a
    subscriber sees every event once and in id order, whichever process or path (fan-out, drain) sent it.

    Live events come from this process's ``EventHub`` (core/event_bus.py), not from a channel layer: the hub
    hears each event once and queues it here in memory, with its frame text already built."""

    channel_layer_alias = None  # no channel layer, no per-consumer channel: see core/event_bus.py
    cursor = 0
    where = outbox.EventFilter()
    _lock: asyncio.Lock | None = None
    _inbox: asyncio.Queue | None = None
    _gap = False
    _hub: EventHub | None = None
    _tasks: tuple[asyncio.Task, ...] = ()

    # --- called by the hub (must not block) ---

    def offer(self, event: dict, frame: str) -> None:
        try:
            self._inbox.put_nowait((event, frame))
        except asyncio.QueueFull:  # far behind: drop, and re-read the outbox once the queue is worked off
            self._gap = True

    def gap(self) -> None:
        self._gap = True
        with contextlib.suppress(asyncio.QueueFull):
            self._inbox.put_nowait(None)  # wakes the pump; the flag is what counts

    async def connect(self) -> None:
        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        offered = self.scope.get("subprotocols", [])
        await self.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        try:
            self.api_key = await database_sync_to_async(api_key_authenticate)(_bearer(self.scope, params))
        except RegistryError as exc:
            await self._refuse(CLOSE_UNAUTHORIZED, exc.code, exc.message)
            return
        try:
            self.where = _filter(params.get("namespace", []), params.get("kind", []))
            since = params.get("since", [None])[0]
            since = None if since in (None, "") else int(since)
            if since is not None and since < 0:
                raise ValueError("since must be >= 0")
        except ValueError as exc:
            await self._refuse(CLOSE_BAD_REQUEST, "invalid_request", str(exc))
            return
        self._lock, self._inbox = asyncio.Lock(), asyncio.Queue(INBOX_MAX)
        # Listen before reading the outbox: whatever commits from now on is either in the replay or queued here.
        # (While the hub is cut off from Redis it tells every subscriber to re-read once it is back.)
        self._hub = EventHub.get()
        self._hub.add(self)
        try:
            self.cursor = since if since is not None else await database_sync_to_async(outbox.event_latest_id)()
            await self.send_json({"type": "welcome", "cursor": self.cursor, "api_key": self.api_key.name,
                                  **self._subscription()})
            await self._catch_up(until=None)
            await self.send_json({"type": "live", "cursor": self.cursor})
        except BaseException:  # the consumer dies without a disconnect(): leave the hub now
            self._hub.discard(self)
            raise
        self._tasks = (asyncio.ensure_future(self._pump()),)
        poll = outbox.stream_settings().get("POLL_SECONDS", 0)
        if poll > 0:
            self._tasks += (asyncio.ensure_future(self._poll(poll)),)

    async def _refuse(self, code: int, error: str, message: str) -> None:
        await self.send_json({"type": "error", "code": error, "message": message})
        await self.close(code=code)

    def _subscription(self) -> dict:
        return {"namespaces": list(self.where.namespaces) or ["*"], "kinds": list(self.where.kinds) or ["*"]}

    async def disconnect(self, code: int) -> None:
        if self._hub is not None:
            self._hub.discard(self)
        for task in self._tasks:
            task.cancel()

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict) or self._lock is None:
            return
        if content.get("type") == "ping":
            await self.send_json({"type": "pong", "cursor": self.cursor})
        elif content.get("type") == "subscribe":
            try:
                namespaces, kinds = content.get("namespaces") or [], content.get("kinds") or []
                if not all(isinstance(x, str) for x in [*namespaces, *kinds]):
                    raise ValueError("namespaces and kinds are lists of strings")
                where = _filter(namespaces, kinds)
            except (ValueError, TypeError) as exc:
                await self.send_json({"type": "error", "code": "invalid_request", "message": str(exc)})
                return
            async with self._lock:
                self.where = where
                await self.send_json({"type": "subscribed", "cursor": self.cursor, **self._subscription()})
        else:
            await self.send_json({"type": "error", "code": "unknown_message",
                                  "message": "send {type: subscribe | ping}"})

    async def _pump(self) -> None:
        """Works off the inbox in order; a failure (the database, mid catch-up) costs one item, not the stream."""
        while True:
            item = await self._inbox.get()
            try:
                if item is not None:
                    await self._live(*item)
                if self._gap and self._inbox.empty():
                    self._gap = False
                    await self._catch_up(until=None)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 (the next jump, gap or poll re-reads what this one missed)
                logger.exception("event stream: live delivery failed")

    async def _live(self, event: dict, frame: str) -> None:
        """A live event from the hub (fan-out or drain)."""
        async with self._lock:
            if event["id"] <= self.cursor:
                return
            if event["id"] == self.cursor + 1:
                self.cursor = event["id"]
                if self.where.matches(event):
                    await self._deliver(event, frame)
                return
        # A jump: earlier events are committed (ids become visible in order) but reached us late or not at all.
        await self._catch_up(until=event["id"])

    async def _catch_up(self, *, until: int | None) -> None:
        async with self._lock:
            upto = until if until is not None else await database_sync_to_async(outbox.event_latest_id)()
            while self.cursor < upto:
                rows = await database_sync_to_async(self._page)(self.cursor, upto)
                for event in rows:
                    await self._deliver(event)
                    self.cursor = event["id"]
                if len(rows) < outbox.PAGE_MAX:
                    self.cursor = max(self.cursor, upto)

    async def _deliver(self, event: dict, frame: str | None = None) -> None:
        """The one place an event reaches this subscriber (live or replayed), so it is counted once."""
        await self.send(text_data=frame if frame is not None else outbox.event_frame(event))
        metrics.event_delivered(kind=event["kind"])

    def _page(self, since: int, upto: int) -> list[dict]:
        return [outbox.event_wire(e) for e in outbox.events_after(since=since, until=upto, where=self.where)]

    async def _poll(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await self._catch_up(until=None)
