"""The outbox: ids become visible in commit order, GET /v1/events pages and filters, the drain dispatches."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from core.models import Event
from core.outbox import events_drain
from core.services import event_emit


@pytest.mark.django_db(transaction=True)
def test_a_later_event_waits_until_an_earlier_uncommitted_one_commits():
    """Without this, a subscriber holding event N could miss N-1 committing late, and since=N would skip it."""
    holding, release = threading.Event(), threading.Event()
    seen_by_second: list[list[int]] = []

    def first() -> None:
        with transaction.atomic():
            event_emit(kind="test.first")
            holding.set()
            release.wait(10)
        connections.close_all()

    def second() -> None:
        holding.wait(10)
        with transaction.atomic():
            mine = event_emit(kind="test.second")  # blocks until `first` commits
            seen_by_second.append(list(Event.objects.filter(id__lt=mine.id).values_list("id", flat=True)))
        connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    holding.wait(10)
    threading.Timer(0.3, release.set).start()
    for t in threads:
        t.join(20)
    first_id = Event.objects.get(kind="test.first").id
    assert seen_by_second == [[first_id]]  # the earlier id was already visible when the later one was written
    assert Event.objects.get(kind="test.second").id > first_id
    connection.close()


@pytest.mark.django_db
def test_event_history_pages_and_filters(client, api_token):
    for kind, ns, subject in [("action.published", "ssh", "ssh.exec@1.0.0"), ("key.revoked", "", "k1"),
                              ("action.published", "docker", "docker.build@1.0.0"),
                              ("action.deprecated", "ssh", "ssh.exec@1.0.0"),
                              ("capability.registered", "", "agent-a")]:
        event_emit(kind=kind, namespace=ns, subject=subject)
    ids = list(Event.objects.order_by("id").values_list("id", flat=True))
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token}"}

    def page(**params):
        response = client.get("/v1/events", params, **auth)
        assert response.status_code == 200, response.content
        return response.json()

    everything = page(since=ids[0] - 1)
    assert [e["id"] for e in everything["items"]] == ids and everything["has_more"] is False
    ssh = page(since=ids[0] - 1, namespace="ssh")  # registry-wide events reach namespace subscribers too
    assert [e["subject"] for e in ssh["items"]] == ["ssh.exec@1.0.0", "k1", "ssh.exec@1.0.0", "agent-a"]
    actions = page(since=ids[0] - 1, kind="action.*")
    assert [e["kind"] for e in actions["items"]] == ["action.published"] * 2 + ["action.deprecated"]
    first_two = page(since=ids[0] - 1, limit=2)
    assert [e["id"] for e in first_two["items"]] == ids[:2] and first_two["has_more"] is True
    rest = page(since=first_two["next_since"])
    assert [e["id"] for e in rest["items"]] == ids[2:]
    # A filter that matches nothing still moves the cursor past what it skipped.
    none = page(since=ids[0] - 1, kind="nothing.matches")
    assert none["items"] == [] and none["next_since"] == ids[-1]
    assert client.get("/v1/events").status_code == 401


@pytest.mark.django_db
def test_drain_marks_undispatched_events_once(settings):
    settings.REDIS_URL = ""  # the bus in-process: nobody listens, every send succeeds
    with transaction.atomic():
        a, b = event_emit(kind="test.a"), event_emit(kind="test.b")
    # Inside the test transaction nothing committed, so no fan-out ran: both wait for the drain.
    assert events_drain(settle_seconds=0) == 2
    assert Event.objects.filter(pk__in=[a.pk, b.pk], dispatched_at__isnull=True).count() == 0
    assert events_drain(settle_seconds=0) == 0


@pytest.mark.django_db(transaction=True)
def test_the_bus_notes_what_it_sent_and_the_drain_marks_it_without_sending_again(settings, redis_url):
    """After commit the fan-out publishes and notes the event in one Redis command, without an UPDATE of the
    row; the outbox depth counts it as sent; the drain marks it dispatched in bulk and drops the note."""
    from core import event_bus
    from core.outbox import outbox_depth

    settings.REDIS_URL = redis_url
    bus = event_bus._client(redis_url)
    listener = bus.pubsub()
    listener.subscribe(event_bus.channel_name(redis_url))
    listener.get_message(timeout=1)  # the subscribe confirmation
    with transaction.atomic():
        sent = event_emit(kind="test.noted")
    note = event_bus.sent_note(sent.id, sent.created_at)
    heard = listener.get_message(timeout=2)
    assert heard is not None and f'"id":{sent.id},' in heard["data"].decode()
    assert Event.objects.get(pk=sent.pk).dispatched_at is None  # no UPDATE at publish time
    assert event_bus.sent_among([note]) == {note}
    # A row the bus has no note of (its process died after commit): counted as not sent, and sent by the drain.
    with transaction.atomic():
        lost = event_emit(kind="test.lost")
    bus.srem(event_bus.sent_key(redis_url), event_bus.sent_note(lost.id, lost.created_at))
    listener.get_message(timeout=2)  # its live send
    assert outbox_depth() == Event.objects.filter(dispatched_at__isnull=True).exclude(pk=sent.pk).count() >= 1
    assert events_drain(settle_seconds=0) >= 2
    resent = [listener.get_message(timeout=1) for _ in range(3)]
    ids = {json_id(m) for m in resent if m is not None}
    assert lost.id in ids and sent.id not in ids  # the noted one is not sent again
    assert Event.objects.filter(pk__in=[sent.pk, lost.pk], dispatched_at__isnull=True).count() == 0
    assert event_bus.sent_among([note]) == set() and outbox_depth() == 0
    listener.close()


def json_id(message: dict) -> int:
    import json

    return json.loads(message["data"])["id"]
