"""Per-process cache of the fetch, by-hash and verify answers, reused only while what they show is unchanged.

A record's bytes never change, but its answer also shows things that do: the verification against the trust
store (revocations, rotations, delegations), the deprecation annotation and its headers, the ``latest`` marker
and the mirror origin. A request reads all of them in one small prepared query (``record_state.version_state``)
and reuses a rendered answer only when they equal what it was rendered from, so a change committed by any
process shows on the very next request to every worker; there is no TTL. With Redis, the probe is skipped while
the change counter (``core.answer_generation``) has not moved since the answer's state was last confirmed, and
at most ``ACTION_REGISTRY_ANSWER_RECHECK_SECONDS`` after that; ``registry.middleware`` serves such answers before
routing.

On a miss the answer is stored under the state of the rows it was rendered from, not under the state the probe
read: a deprecation lifted between the probe and the render, then restored, would otherwise leave new bytes
under an old state that comes back. The one input read after its stamp is the trust snapshot
(``trust_snapshot`` reads TrustState, then the keys), so an answer is never older than the stamp it is stored
under, and stamps only move forward.

With ``ACTION_REGISTRY_SHARED_ANSWERS`` on and ``REDIS_URL`` set, answers are also shared between processes (``SharedAnswers``): stored under a digest of
what the request names, beside a digest of the full state they were rendered from, so a worker that has not
served a record yet reuses another worker's rendering only for exactly the state its own probe just read; the
same guarantee as the per-process tier, one Redis GET and the probe instead of a render (record query, trust
snapshot, Ed25519 verification, JSON). A record no process has rendered costs a GET and a SET more than before,
which is why it is opt-in: measured in-process at 10k actions, a first sight costs 0.94 ms CPU rendered, 0.70 ms
from the shared tier, 1.33 ms when nobody shared it yet; it pays when many processes serve the same records. Redis being slow or down only turns the shared tier off for a few seconds; answers are rendered as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpResponse
from ninja.responses import NinjaJSONEncoder

from core import answer_generation
from core.exceptions import NotFound
from core.metrics import verification_observed
from core.redis_clients import OptionalRedis
from governance.selectors import trust_snapshot
from registry import record_state, records, selectors
from registry.lifecycle_api import deprecation_headers
from registry.lifecycle_selectors import deprecation_of, deprecation_view
from registry.models import ActionVersion
from registry.schemas import VerifyOut

RECORD_CONTENT_TYPE = "application/json"
# What django-ninja's JSON renderer sends for an operation that returns data (the verify answer was one).
NINJA_CONTENT_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    """A rendered 200 answer: body, content type, the headers beside it, and the verification (for metrics)."""

    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...]
    verification: dict

    def response(self) -> HttpResponse:
        response = HttpResponse(self.body, content_type=self.content_type)
        for name, value in self.headers:
            response[name] = value
        return response


@dataclass
class Entry:
    """A kept answer, the state it was rendered from, and when that state was last confirmed: under which value
    of the change counter (core.answer_generation; None when it could not be read) and at what monotonic time."""

    state: record_state.VersionState
    answer: Answer
    generation: int | None
    checked_at: float

    def fresh(self, generation: int | None, now: float) -> bool:
        """Servable without a probe: the counter has not moved since the state was confirmed, recently enough."""
        return (generation is not None and generation == self.generation
                and now - self.checked_at < answer_generation.recheck_seconds())


class AnswerCache:
    """LRU of answers bounded by body bytes, keyed by what the request names (``("record", name, version)``,
    ``("hash", content_hash)``, ``("verify", name, version)``); one lock (sync workers never contend for it)."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple, Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Entry | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is not None:
                self._items.move_to_end(key)
            return entry

    def put(self, key: tuple, state: record_state.VersionState, answer: Answer, *, limit: int,
            generation: int | None = None, checked_at: float | None = None) -> None:
        size = len(answer.body)
        entry = Entry(state=state, answer=answer, generation=generation,
                      checked_at=time.monotonic() if checked_at is None else checked_at)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old.answer.body)
            if size > limit // 16:  # a few huge records must not push out thousands of ordinary ones
                return
            self._items[key] = entry
            self._bytes += size
            while self._bytes > limit and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped.answer.body)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


answers = AnswerCache()
logger = logging.getLogger("action_registry.cache")


class SharedAnswers(OptionalRedis):
    """Answers shared by every process through Redis, keyed by sha256(request key), each with the digest of the
    state it was rendered from (the last writer wins; readers compare the digest); entries expire
    (``ACTION_REGISTRY_SHARED_ANSWER_TTL``, default 1 h) and are bounded by Redis's own memory policy.
    The value is a JSON head line (state digest, content type, headers, verification) then the body bytes."""

    PREFIX = "ar:answer:"
    TIMEOUT_SECONDS = 0.05

    def __init__(self) -> None:
        super().__init__("shared answer cache", timeout=self.TIMEOUT_SECONDS, logger=logger)

    def _redis(self):
        return self.client() if getattr(settings, "ACTION_REGISTRY_SHARED_ANSWERS", False) else None

    @classmethod
    def _key(cls, key: tuple) -> str:
        return cls.PREFIX + hashlib.sha256(repr(key).encode()).hexdigest()

    @staticmethod
    def state_digest(state: record_state.VersionState) -> str:
        return hashlib.sha256(repr(state).encode()).hexdigest()

    def get(self, key: tuple) -> tuple[str, Answer] | None:
        """The last answer any process shared for ``key`` and the digest of the state it was rendered from; the
        caller serves it only when that digest is the one of the state it has just read."""
        client = self._redis()
        if client is None:
            return None
        try:
            raw = client.get(self._key(key))
        except Exception as exc:  # noqa: BLE001 (any Redis failure: render instead)
            self.failed(exc)
            return None
        if raw is None:
            return None
        head, _, body = raw.partition(b"\n")
        meta = json.loads(head)
        return meta["s"], Answer(body=body, content_type=meta["t"], headers=tuple(tuple(h) for h in meta["h"]),
                                 verification=meta["v"])

    def put(self, key: tuple, state: record_state.VersionState, answer: Answer) -> None:
        client = self._redis()
        if client is None:
            return
        head = json.dumps({"s": self.state_digest(state), "t": answer.content_type, "h": answer.headers,
                           "v": answer.verification}, separators=(",", ":"), default=str).encode()
        try:
            client.set(self._key(key), head + b"\n" + answer.body,
                       ex=getattr(settings, "ACTION_REGISTRY_SHARED_ANSWER_TTL", 3600))
        except Exception as exc:  # noqa: BLE001
            self.failed(exc)


shared = SharedAnswers()


def enabled() -> bool:
    """ACTION_REGISTRY_RESPONSE_CACHE_BYTES > 0; at 0 the API renders every answer as it did before the cache."""
    return getattr(settings, "ACTION_REGISTRY_RESPONSE_CACHE_BYTES", 0) > 0


def _answer(key: tuple, probe: Callable[[], record_state.VersionState | None],
            render: Callable[[], tuple[record_state.VersionState, Answer]]) -> HttpResponse:
    limit = settings.ACTION_REGISTRY_RESPONSE_CACHE_BYTES
    # Read before anything the answer is checked against or rendered from (see core.answer_generation); the
    # middleware may have read it already in this request (registry.middleware), which is as early.
    read = _generation_read.get()
    generation = read[0] if read is not None else answer_generation.generation()
    now = time.monotonic()
    entry = answers.get(key)
    if entry is not None and entry.fresh(generation, now):  # nothing changed since its state was confirmed
        return _served(entry.answer)
    share = shared._redis() is not None
    # Kept here: one state probe decides. Not kept here: the shared tier's answer (if any) costs a probe too;
    # with neither, render straight away (a probe would only add a query).
    found = shared.get(key) if share and entry is None else None
    if entry is not None or found is not None:
        current = probe()
        if entry is not None and current == entry.state:
            answers.put(key, current, entry.answer, limit=limit, generation=generation, checked_at=now)
            return _served(entry.answer)
        if found is None and share and current is not None:
            found = shared.get(key)
        if found is not None and current is not None and found[0] == shared.state_digest(current):
            answers.put(key, current, found[1], limit=limit, generation=generation, checked_at=now)
            return _served(found[1])
    # No such version (the render raises the 404 or 422), not seen yet, or something it shows changed.
    state, answer = render()
    answers.put(key, state, answer, limit=limit, generation=generation, checked_at=now)
    if share:
        shared.put(key, state, answer)
    return answer.response()


def _served(answer: Answer) -> HttpResponse:
    verification_observed(answer.verification)  # the metrics count every verification served
    return answer.response()


# The change counter as read earlier in this request (a 1-tuple; None: not read yet), set by registry.middleware.
_generation_read: ContextVar[tuple[int | None] | None] = ContextVar("answer_generation_read", default=None)


def fresh_response(key: tuple) -> tuple[HttpResponse | None, int | None]:
    """The kept answer for ``key`` if the change counter confirms it without a probe (else None), and the
    counter as read: the caller hands it on (``_generation_read``) when it goes the whole way instead."""
    generation = answer_generation.generation()
    entry = answers.get(key)
    if entry is None or not entry.fresh(generation, time.monotonic()):
        return None, generation
    return _served(entry.answer), generation


def _state(row: ActionVersion, stamp: tuple) -> record_state.VersionState:
    return record_state.version_state_of(row, deprecation=deprecation_of(version=row),
                                      origin=getattr(row, "mirror_origin", None), trust_stamp=stamp)


def _render_record(row: ActionVersion) -> tuple[record_state.VersionState, Answer]:
    snapshot = trust_snapshot()
    body, verification = records.version_record_rendered(row, snapshot=snapshot)
    headers = deprecation_headers(HttpResponse(), row)
    answer = Answer(body=body, content_type=RECORD_CONTENT_TYPE, verification=verification,
                    headers=tuple((k, v) for k, v in headers.items() if k != "Content-Type"))
    return _state(row, snapshot.stamp), answer


def _render_verify(row: ActionVersion) -> tuple[record_state.VersionState, Answer]:
    snapshot = trust_snapshot()
    verification = records.version_verification(row, snapshot=snapshot)
    data = {"name": row.action.name, "version": row.version, "content_hash": row.blob_id, **verification,
            **deprecation_view(deprecation_of(version=row))}
    # Validated and rendered the way django-ninja renders an operation's data (tests compare the bytes).
    body = json.dumps(VerifyOut.model_validate(data).model_dump(), cls=NinjaJSONEncoder).encode("utf-8")
    headers = deprecation_headers(HttpResponse(), row)
    answer = Answer(body=body, content_type=NINJA_CONTENT_TYPE, verification=verification,
                    headers=tuple((k, v) for k, v in headers.items() if k != "Content-Type"))
    return _state(row, snapshot.stamp), answer


def record_response(*, name: str, version: str) -> HttpResponse:
    """``GET /v1/actions/{name}/versions/{version}``: the full verified record."""
    return _answer(("record", name, version), lambda: record_state.version_state(name=name, version=version),
                   lambda: _render_record(selectors.version_get(name=name, version=version)))


def record_by_hash_response(*, content_hash: str) -> HttpResponse:
    """``GET /v1/actions/by-hash/{content_hash}``: the first record published with these bytes."""
    def render():
        found = selectors.version_get_by_hash(content_hash=content_hash)
        if not found:
            raise NotFound(f"no record has content hash {content_hash}", code="hash_not_found",
                                     suggestion="Search by name with GET /v1/actions?q=...")
        return _render_record(found[0])

    return _answer(("hash", content_hash), lambda: record_state.version_state_by_hash(content_hash=content_hash),
                   render)


def verify_response(*, name: str, version: str) -> HttpResponse:
    """``GET /v1/actions/{name}/versions/{version}/verify``."""
    return _answer(("verify", name, version), lambda: record_state.version_state(name=name, version=version),
                   lambda: _render_verify(selectors.version_get(name=name, version=version)))
