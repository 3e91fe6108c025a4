"""The admin: policy edits become versions, promotions go through the service, anomalies are acknowledged,
report schedules create their beat task."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from analytics.models import Anomaly, ReportSchedule
from core.models import AuditEntry
from governance.models import ChannelPromotion, Policy
from governance.policy_services import channel_create
from tests.conftest import make_doc


@pytest.fixture
def staff(client, db):
    user = get_user_model().objects.create_superuser("rev", "rev@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_policy_edits_in_the_admin_are_new_versions(staff):
    form = {"name": "stable-pinned", "kind": "version_pinning", "enabled": "on", "reason": "pin stable",
            "document": '{"ring": "stable", "channel": "verified"}',
            "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"}
    assert staff.post("/admin/governance/policy/add/", form).status_code == 302
    policy = Policy.objects.get(name="stable-pinned")
    edit = {**form, "document": '{"ring": "stable", "channel": "gold"}', "reason": "stricter"}
    assert staff.post(f"/admin/governance/policy/{policy.pk}/change/", edit).status_code == 302
    policy.refresh_from_db()
    assert policy.current.number == 2 and policy.current.document["channel"] == "gold"
    assert [v.author for v in policy.versions.all()] == ["user:rev", "user:rev"]
    page = staff.get(f"/admin/governance/policy/{policy.pk}/change/").content.decode()
    assert "stricter" in page and "pin stable" in page  # the history is shown


def test_promotion_and_anomaly_acknowledgement_in_the_admin(staff, api, trusted_signer):
    assert api.publish(trusted_signer.sign(make_doc("ssh.exec", "1.0.0"))).status_code == 201
    channel = channel_create(name="verified", actor="test")
    response = staff.post("/admin/governance/channelpromotion/add/", {
        "channel": channel.pk, "action_name": "ssh.exec", "version": "1.0.0", "reason": "reviewed"})
    assert response.status_code == 302
    assert ChannelPromotion.objects.get().promoted_by == "user:rev"
    anomaly = Anomaly.objects.create(kind="publish_spike", subject="k1", summary="spike", evidence={"current": 9},
                                     fingerprint="publish_spike:k1:x", detected_at=timezone.now())
    assert "current" in staff.get(f"/admin/analytics/anomaly/{anomaly.pk}/change/").content.decode()
    staff.post("/admin/analytics/anomaly/", {"action": "acknowledge", "_selected_action": [anomaly.pk]})
    anomaly.refresh_from_db()
    assert anomaly.status == "acknowledged" and anomaly.acknowledged_by == "user:rev"
    assert AuditEntry.objects.filter(action="anomaly.acknowledged").exists()


def test_report_schedule_in_the_admin_creates_its_beat_task(staff):
    response = staff.post("/admin/analytics/reportschedule/add/", {"namespace": "ssh", "period": "weekly"})
    assert response.status_code == 302
    schedule = ReportSchedule.objects.get()
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.task == "analytics.report_generate_task" and task.crontab.day_of_week == "1"
    assert f'"schedule_id": {schedule.id}' in task.kwargs
    for page in ("/admin/analytics/run/", "/admin/analytics/reputationscore/", "/admin/analytics/usagecount/",
                 "/admin/analytics/reportschedule/", "/admin/governance/channel/", "/admin/governance/ringmembership/"):
        assert staff.get(page).status_code == 200, page
