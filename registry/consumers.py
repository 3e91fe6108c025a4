"""WebSocket event stream (ws://host/v1/events): replay from the outbox, then live events, each exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from action_registry.errors import RegistryError
from core import metrics, outbox
from governance.auth import api_key_authenticate

SUBPROTOCOL = "action-registry.v1"
BEARER_SUBPROTOCOL_PREFIX = "bearer."
FILTER_MAX = 50
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400
RETRY_MIN_SECONDS, RETRY_MAX_SECONDS = 0.2, 5.0
logger = logging.getLogger("action_registry.events")


class _ResilientLayer:
    """The channel layer with a ``receive`` that outlives a Redis outage: it retries with backoff instead of
    raising (which would kill the consumer and drop the client), and once Redis answers again it lets the
    consumer re-join its group (a restarted Redis has forgotten it) and catch up from the outbox."""

    def __init__(self, layer, on_reconnect: Callable[[], Awaitable[None]]):
        self._layer, self._on_reconnect = layer, on_reconnect

    def __getattr__(self, name: str):
        return getattr(self._layer, name)

    async def receive(self, channel: str) -> dict:
        delay, failed = RETRY_MIN_SECONDS, False
        while True:
            try:
                if failed:
                    await self._on_reconnect()
                    failed, delay = False, RETRY_MIN_SECONDS
                return await self._layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 (redis errors have no common base we could name here)
                logger.warning("event stream: channel layer unavailable (%s); retrying in %.1fs", exc, delay)
                failed = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)


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
    subscriber sees every event once and in id order, whichever process or path (fan-out, drain) sent it."""

    cursor = 0
    where = outbox.EventFilter()
    _lock: asyncio.Lock | None = None
    _poller: asyncio.Task | None = None
    _layer = None

    @property
    def channel_layer(self):
        return self._layer

    @channel_layer.setter
    def channel_layer(self, layer) -> None:
        # Channels sets this at the start of __call__, just before it builds the receive loop over it.
        self._layer = _ResilientLayer(layer, self._rejoin) if layer is not None else None

    async def _rejoin(self) -> None:
        if self._lock is None:
            return
        await self.channel_layer.group_add(outbox.GROUP, self.channel_name)
        await self._catch_up(until=None)

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
        self._lock = asyncio.Lock()
        # Join before reading the outbox: whatever commits from now on is either in the replay or queued here.
        try:
            await self.channel_layer.group_add(outbox.GROUP, self.channel_name)
        except Exception as exc:  # noqa: BLE001 (Redis down: the receive loop re-joins once it is back)
            logger.warning("event stream: cannot join the group yet (%s)", exc)
        self.cursor = since if since is not None else await database_sync_to_async(outbox.event_latest_id)()
        await self.send_json({"type": "welcome", "cursor": self.cursor, "api_key": self.api_key.name,
                              **self._subscription()})
        await self._catch_up(until=None)
        await self.send_json({"type": "live", "cursor": self.cursor})
        poll = outbox.stream_settings().get("POLL_SECONDS", 0)
        if poll > 0:
            self._poller = asyncio.ensure_future(self._poll(poll))

    async def _refuse(self, code: int, error: str, message: str) -> None:
        await self.send_json({"type": "error", "code": error, "message": message})
        await self.close(code=code)

    def _subscription(self) -> dict:
        return {"namespaces": list(self.where.namespaces) or ["*"], "kinds": list(self.where.kinds) or ["*"]}

    async def disconnect(self, code: int) -> None:
        if self._poller is not None:
            self._poller.cancel()
        if self._lock is not None:
            with contextlib.suppress(Exception):  # Redis may be down; the group entry expires on its own
                await self.channel_layer.group_discard(outbox.GROUP, self.channel_name)

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

    async def event_message(self, message: dict) -> None:
        """A live event from the channel layer (fan-out or drain)."""
        event = message["event"]
        async with self._lock:
            if event["id"] <= self.cursor:
                return
            if event["id"] == self.cursor + 1:
                self.cursor = event["id"]
                if self.where.matches(event):
                    await self._deliver(event)
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

    async def _deliver(self, event: dict) -> None:
        """The one place an event reaches this subscriber (live or replayed), so it is counted once."""
        await self.send_json({"type": "event", **event})
        metrics.event_delivered(kind=event["kind"])

    def _page(self, since: int, upto: int) -> list[dict]:
        return [outbox.event_wire(e) for e in outbox.events_after(since=since, until=upto, where=self.where)]

    async def _poll(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await self._catch_up(until=None)
