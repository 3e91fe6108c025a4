"""Mirroring between two live registries: verified records stored with their origin, bad ones quarantined."""

from __future__ import annotations

import json

import httpx
import pytest
from django_celery_beat.models import PeriodicTask

from core.exceptions import Conflict
from core.models import Event
from federation.models import MirroredVersion, QuarantinedRecord
from federation.models import Upstream as UpstreamModel
from federation.services import mirror_sync, upstream_save
from tests.conftest import make_doc
from tests.federation.conftest import UPSTREAM_OTHER_KID, UPSTREAM_ROOT_KID

pytestmark = pytest.mark.django_db(transaction=True)


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=60)  # a freshly booted gunicorn worker loads Django on its first request


def configure(upstream, *, url: str | None = None, namespaces=("files",), interval: int = 0,
              api_key_env: str = "") -> UpstreamModel:
    return upstream_save(upstream=UpstreamModel(
        name="up", url=url or upstream.url, namespaces=list(namespaces), sync_interval_minutes=interval,
        api_key_env=api_key_env,
        root_keys=[{"kid": UPSTREAM_ROOT_KID, "alg": "Ed25519", "public_key": upstream.root_public}]), actor="test")


def test_mirror_stores_verified_records_with_origin_and_serves_them(upstream, registry_server, monkeypatch):
    upstream.publish(make_doc("files.move", "1.0.0"))
    original = upstream.publish(make_doc("files.move", "1.1.0"))
    upstream.publish(make_doc("sshx.exec", "1.0.0"))  # outside the mirrored namespaces
    monkeypatch.setenv("AR_FED_TEST_UPSTREAM_KEY", upstream.api_key)
    mirror = configure(upstream, interval=15, api_key_env="AR_FED_TEST_UPSTREAM_KEY")

    report = mirror_sync(upstream=mirror)

    assert report.mode == "events" and int(report.cursor) > 0  # pulled from the upstream's event history
    assert sorted(report.stored) == ["files.move@1.0.0", "files.move@1.1.0"]
    assert report.quarantined == []
    url = registry_server()
    record = get(f"{url}/v1/actions/files.move/versions/1.1.0").json()
    assert record["origin"]["registry"] == upstream.url
    assert record["signature"] == original["signature"]  # the original publisher signature, kept
    assert record["content_hash"] == original["content_hash"]
    assert record["action"] == original["action"]
    assert record["verification"]["verified"] is True
    assert get(f"{url}/v1/actions/sshx.exec").status_code == 404
    assert MirroredVersion.objects.filter(upstream=mirror).count() == 2
    # the schedule is a django-celery-beat periodic task calling mirror_sync_task with the upstream's id
    task = PeriodicTask.objects.get(name="mirror-sync:up")
    assert task.task == "federation.tasks.mirror_sync_task" and json.loads(task.args) == [mirror.pk]
    assert task.interval.every == 15

    upstream.publish(make_doc("files.move", "1.2.0"))
    again = mirror_sync(upstream=UpstreamModel.objects.get(pk=mirror.pk))  # only what changed since the cursor
    assert again.stored == ["files.move@1.2.0"] and again.present == 0 and int(again.cursor) > int(report.cursor)


def test_conflicting_local_bytes_and_untrusted_signers_are_quarantined(upstream, api, make_signer):
    local = make_signer("local-root-1")
    mine = local.sign(make_doc("files.clash", "1.0.0", description="The local one."))
    assert api.publish(mine).status_code == 201
    upstream.publish(make_doc("files.clash", "1.0.0", description="The upstream one."))
    upstream.publish(make_doc("files.stray", "1.0.0"), key=upstream.other, kid=UPSTREAM_OTHER_KID)

    report = mirror_sync(upstream=configure(upstream))

    reasons = {q["name"]: q["reason"] for q in report.quarantined}
    assert reasons["files.clash"] == "conflict"
    assert reasons["files.stray"] == "untrusted_key"  # trusted upstream, but not a root configured here
    kept = api.get("/v1/actions/files.clash/versions/1.0.0").json()
    assert kept["action"]["description"] == "The local one." and kept["origin"] is None
    assert api.get("/v1/actions/files.stray").status_code == 404
    assert Event.objects.filter(kind="anomaly.mirror_quarantine").count() == 2

    again = mirror_sync(upstream=UpstreamModel.objects.get(name="up"))  # seen again: counted, not re-raised
    assert QuarantinedRecord.objects.get(name="files.clash").times_seen == 2
    assert Event.objects.filter(kind="anomaly.mirror_quarantine").count() == 2
    assert len(again.quarantined) == 2


def test_upstream_root_kid_colliding_with_a_local_key_is_refused(upstream, make_signer):
    make_signer(UPSTREAM_ROOT_KID)  # a different local key under the upstream root's kid
    with pytest.raises(Conflict) as excinfo:
        configure(upstream)
    assert getattr(excinfo.value, "code", "") == "upstream_kid_conflict"
    assert not UpstreamModel.objects.exists()  # nothing half-saved: the upstream row rolled back too
