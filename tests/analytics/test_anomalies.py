"""Anomaly detectors over each subject's own history (median/MAD), in-process with explicit times."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from analytics.anomalies import (
    detect_new_consumption,
    detect_rapid_republish,
    detect_verification_failures,
)
from analytics.models import UsageCount
from analytics.stats import robust_outlier
from core.models import Event


def _hour(t):
    return t.replace(minute=0, second=0, microsecond=0)


def _usage(kind: str, action: str, agent: str, when, count: int = 1) -> None:
    UsageCount.objects.create(bucket=_hour(when), kind=kind, action_name=action, version="1.0.0",
                              namespace=action.split(".")[0], agent=agent, count=count)


def test_robust_rule_uses_the_subjects_own_spread():
    assert not robust_outlier([20, 22, 19, 25, 21, 18, 23], 30).is_outlier  # a noisy subject: 30 is fine
    assert robust_outlier([0, 1, 0, 0, 1, 0, 0], 9).is_outlier  # a quiet one: 9 is not
    assert not robust_outlier([0, 0, 0], 2).is_outlier  # below min_count


def test_agent_reaching_for_many_new_actions_is_flagged(db):
    now = timezone.now()
    for day in range(1, 8):  # a steady agent: the same two actions, every day for a week
        for action in ("ssh.exec", "files.read"):
            _usage("fetch", action, "steady", now - timedelta(days=day))
            _usage("fetch", action, "roamer", now - timedelta(days=day))
    for i in range(6):  # roamer suddenly fetches six actions it never used
        _usage("fetch", f"db.tool{i}", "roamer", now)
    _usage("fetch", "ssh.exec", "steady", now)
    found = detect_new_consumption(now)
    assert [(a.kind, a.subject) for a in found] == [("new_consumption", "roamer")]
    assert found[0].evidence["new_actions"] == [f"db.tool{i}" for i in range(6)]
    assert found[0].evidence["known_actions"] == 2


def test_verification_failure_surge_against_the_actions_usual_rate(db):
    now = timezone.now()
    for hours in range(2, 30):
        _usage("verify_failed", "noisy.tool", "a", now - timedelta(hours=hours), count=10)  # always ~10 an hour
        if hours % 12 == 0:
            _usage("verify_failed", "calm.tool", "a", now - timedelta(hours=hours), count=1)
    _usage("verify_failed", "noisy.tool", "a", now, count=12)
    _usage("verify_failed", "calm.tool", "b", now, count=12)
    found = detect_verification_failures(now)
    assert [a.subject for a in found] == ["calm.tool"]
    assert found[0].evidence["current"] == 12 and found[0].evidence["agents"] == ["b"]


def test_long_stable_action_republished_rapidly(db):
    now = timezone.now()

    def published(name: str, version: str, when) -> None:
        event = Event.objects.create(kind="action.published", namespace=name.split(".")[0],
                                     subject=f"{name}@{version}", payload={"name": name, "version": version,
                                                                           "kid": "k"})
        Event.objects.filter(pk=event.pk).update(created_at=when)

    published("old.tool", "1.0.0", now - timedelta(days=40))
    published("busy.tool", "1.0.0", now - timedelta(days=2))
    for i in range(4):
        published("old.tool", f"1.0.{i + 1}", now - timedelta(minutes=5 * i))
        published("busy.tool", f"1.0.{i + 1}", now - timedelta(minutes=5 * i))
    found = detect_rapid_republish(now)
    assert [a.subject for a in found] == ["old.tool"]  # busy.tool was not long-stable
    assert found[0].evidence["quiet_days"] >= 39 and len(found[0].evidence["versions"]) == 4
