"""Deprecation: an annotation with history, authorised by namespace, visible on every read path."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.models import AuditEntry, Event
from registry.models import ActionVersion, Blob, Deprecation, DeprecationEntry
from tests.registry.lifecycle_helpers import WITH_REQUIRED_TIMEOUT, error, publish

BASE = "/v1/actions/ssh.exec/versions"


@pytest.fixture
def two_versions(api, trusted_signer):
    one = publish(api, trusted_signer, "1.0.0").json()
    two = publish(api, trusted_signer, "2.0.0", WITH_REQUIRED_TIMEOUT).json()
    return one, two


def deprecate(api, version="1.0.0", reason="Superseded by 2.0.0.", successor="2.0.0", **kw):
    body = {"reason": reason} if successor is None else {"reason": reason, "successor": successor}
    return api.post(f"{BASE}/{version}/deprecate", body, **kw)


def assert_deprecated(body: dict, successor: str | None = "2.0.0", reason: str = "Superseded by 2.0.0."):
    assert body["deprecated"] is True
    assert body["deprecation"]["reason"] == reason
    assert body["deprecation"]["successor"] == successor
    assert body["deprecation"]["at"].endswith("Z")


def assert_headers(resp, successor: str | None = "2.0.0"):
    assert resp["X-Action-Deprecated"] == "true"
    if successor:
        assert resp["X-Action-Successor"] == successor
        assert resp["Link"] == f'</v1/actions/ssh.exec/versions/{successor}>; rel="successor-version"'
    else:
        assert not resp.has_header("X-Action-Successor")
    assert resp["Deprecation"].startswith("@")


def test_deprecation_shows_on_every_read_path(api, two_versions):
    one, _ = two_versions
    resp = deprecate(api)
    assert resp.status_code == 200, resp.content
    assert_deprecated(resp.json())
    assert_headers(resp)

    record = api.get(f"{BASE}/1.0.0")
    assert_deprecated(record.json())
    assert_headers(record)

    verify = api.get(f"{BASE}/1.0.0/verify")
    assert verify.json()["verified"] is True
    assert_deprecated(verify.json())
    assert_headers(verify)

    by_hash = api.get(f"/v1/actions/by-hash/{one['content_hash']}")
    assert_deprecated(by_hash.json())
    assert_headers(by_hash)

    state = api.get(f"{BASE}/1.0.0/deprecation")
    assert_deprecated(state.json())
    assert_headers(state)

    detail = api.get("/v1/actions/ssh.exec")
    versions = {v["version"]: v for v in detail.json()["versions"]}
    assert_deprecated(versions["1.0.0"])
    assert versions["2.0.0"]["deprecated"] is False and versions["2.0.0"]["deprecation"] is None
    # The detail's headers describe the latest release, which is not deprecated.
    assert not detail.has_header("X-Action-Deprecated")

    # The version that is not deprecated says so and carries no headers.
    fresh = api.get(f"{BASE}/2.0.0")
    assert fresh.json()["deprecated"] is False and fresh.json()["deprecation"] is None
    assert not fresh.has_header("X-Action-Deprecated")


def test_deprecating_the_latest_release_marks_the_action_detail(api, two_versions):
    resp = deprecate(api, version="2.0.0", reason="Use ssh.run instead.", successor=None)
    assert resp.status_code == 200, resp.content
    detail = api.get("/v1/actions/ssh.exec")
    assert_headers(detail, successor=None)
    assert_deprecated({v["version"]: v for v in detail.json()["versions"]}["2.0.0"], successor=None,
                      reason="Use ssh.run instead.")


def test_signed_bytes_and_version_row_are_untouched(api, two_versions):
    one, _ = two_versions
    row_before = ActionVersion.objects.values().get(version="1.0.0")
    blob_before = bytes(Blob.objects.get(pk=one["content_hash"]).canonical)
    deprecate(api)
    api.post(f"{BASE}/1.0.0/undeprecate", {"reason": "rolled back"})
    assert ActionVersion.objects.values().get(version="1.0.0") == row_before
    assert bytes(Blob.objects.get(pk=one["content_hash"]).canonical) == blob_before
    record = api.get(f"{BASE}/1.0.0").json()
    assert record["action"] == one["action"] and record["signature"] == one["signature"]


def test_undeprecate_keeps_history_and_emits_events(api, two_versions):
    deprecate(api)
    resp = api.post(f"{BASE}/1.0.0/undeprecate", {"reason": "2.0.0 was rolled back."})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert (body["deprecated"], body["deprecation"]) == (False, None)
    assert [(h["action"], h["reason"], h["successor"], h["actor"]) for h in body["history"]] == [
        ("deprecated", "Superseded by 2.0.0.", "2.0.0", "api_key:test-publisher"),
        ("undeprecated", "2.0.0 was rolled back.", None, "api_key:test-publisher"),
    ]
    record = api.get(f"{BASE}/1.0.0")
    assert record.json()["deprecated"] is False
    assert not record.has_header("X-Action-Deprecated")

    events = list(Event.objects.filter(kind__in=["action.deprecated", "action.undeprecated"]).order_by("id"))
    assert [e.kind for e in events] == ["action.deprecated", "action.undeprecated"]
    assert events[0].subject == "ssh.exec@1.0.0" and events[0].namespace == "ssh"
    assert events[0].payload["successor"] == "2.0.0" and events[0].payload["reason"] == "Superseded by 2.0.0."
    audits = list(AuditEntry.objects.filter(target="ssh.exec@1.0.0").order_by("id"))
    assert [(a.action, a.actor) for a in audits] == [("action.deprecate", "api_key:test-publisher"),
                                                     ("action.undeprecate", "api_key:test-publisher")]
    again = api.post(f"{BASE}/1.0.0/undeprecate", {"reason": "twice"})
    assert again.status_code == 409 and error(again)["code"] == "not_deprecated"


def test_deprecating_again_replaces_reason_and_successor(api, two_versions, trusted_signer):
    publish(api, trusted_signer, "3.0.0", WITH_REQUIRED_TIMEOUT)
    deprecate(api)
    resp = deprecate(api, reason="Skip to 3.0.0.", successor="3.0.0")
    assert_deprecated(resp.json(), successor="3.0.0", reason="Skip to 3.0.0.")
    assert len(resp.json()["history"]) == 2
    assert Deprecation.objects.count() == 1


@pytest.mark.parametrize(("successor", "code"), [("9.9.9", "successor_not_found"), ("1.0.0", "successor_is_self"),
                                                 ("1.0", "invalid_version")])
def test_successor_must_exist_and_differ(api, two_versions, successor, code):
    resp = deprecate(api, successor=successor)
    assert resp.status_code == 422, resp.content
    assert error(resp)["code"] == code
    assert not Deprecation.objects.exists() and not DeprecationEntry.objects.exists()


def test_successor_must_not_be_deprecated(api, two_versions, trusted_signer):
    publish(api, trusted_signer, "3.0.0", WITH_REQUIRED_TIMEOUT)
    assert deprecate(api, version="2.0.0", successor="3.0.0").status_code == 200
    events = Event.objects.count()
    resp = deprecate(api, version="1.0.0", successor="2.0.0")
    assert resp.status_code == 422
    err = error(resp)
    assert err["code"] == "successor_deprecated"
    assert "3.0.0" in err["suggestion"]
    assert Event.objects.count() == events


def test_reason_is_required(api, two_versions):
    assert deprecate(api, reason="   ").status_code == 422
    assert error(deprecate(api, reason="   "))["code"] == "reason_required"
    missing = api.post(f"{BASE}/1.0.0/deprecate", {"successor": "2.0.0"})
    assert missing.status_code == 422 and error(missing)["code"] == "invalid_request"


def test_authorisation(api, client, two_versions, make_api_token):
    from tests.conftest import Api

    anonymous = Api(client, None)
    assert deprecate(anonymous).status_code == 401
    other = make_api_token("files-team", ["files"])
    resp = deprecate(api, token=other)
    assert resp.status_code == 403 and error(resp)["code"] == "namespace_forbidden"
    assert api.post(f"{BASE}/1.0.0/undeprecate", {"reason": "x"}, token=other).status_code == 403
    ssh_team = make_api_token("ssh-team", ["ssh"])
    assert deprecate(api, token=ssh_team).status_code == 200
    assert Deprecation.objects.get().deprecated_by == "api_key:ssh-team"


def test_unknown_version_and_action(api, two_versions):
    missing = api.post(f"{BASE}/7.0.0/deprecate", {"reason": "x"})
    assert missing.status_code == 404 and error(missing)["code"] == "version_not_found"
    nothing = api.post("/v1/actions/nope.nothing/versions/1.0.0/deprecate", {"reason": "x"})
    assert nothing.status_code == 404 and error(nothing)["code"] == "action_not_found"


def test_reads_cost_no_extra_queries_when_deprecated(api, two_versions, trusted_signer):
    for v in ("2.1.0", "2.2.0", "2.3.0"):
        publish(api, trusted_signer, v, WITH_REQUIRED_TIMEOUT)

    def queries(path: str) -> list[str]:
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(path).status_code == 200
        # Usage analytics flush a batch every few seconds during some read (savepoints, analytics
        # tables); that is not what is measured here, the registry's own reads are.
        return [q["sql"] for q in ctx.captured_queries
                if (q["sql"] or "").startswith("SELECT") and "analytics_" not in q["sql"]]

    paths = (f"{BASE}/1.0.0", f"{BASE}/1.0.0/verify", "/v1/actions/ssh.exec")
    plain = {p: queries(p) for p in paths}
    for v in ("1.0.0", "2.0.0", "2.1.0"):
        deprecate(api, version=v, successor="2.3.0")
    for p in paths:
        after = queries(p)
        assert len(after) == len(plain[p]), (p, after, plain[p])
    # The version list costs the same however many versions there are.
    for v in ("2.4.0", "2.5.0"):
        publish(api, trusted_signer, v, WITH_REQUIRED_TIMEOUT)
    assert len(queries("/v1/actions/ssh.exec")) == len(plain["/v1/actions/ssh.exec"])


def test_governance_team_deprecates_in_the_admin(admin_client, api, two_versions):
    one, two = (ActionVersion.objects.get(version=v) for v in ("1.0.0", "2.0.0"))
    resp = admin_client.post("/admin/registry/deprecation/add/",
                             {"version": one.pk, "reason": "Retired by governance.", "successor": two.pk})
    assert resp.status_code == 302, resp.content.decode()[:2000]
    dep = Deprecation.objects.get()
    assert (dep.version_id, dep.successor_id, dep.deprecated_by) == (one.pk, two.pk, "user:admin")
    assert Event.objects.filter(kind="action.deprecated", subject="ssh.exec@1.0.0").exists()
    record = api.get(f"{BASE}/1.0.0")
    assert_deprecated(record.json(), reason="Retired by governance.")

    # A successor that is itself deprecated is refused by the form, with the service's rule.
    admin_client.post("/admin/registry/deprecation/add/", {"version": two.pk, "reason": "Retired."})
    resp = admin_client.post("/admin/registry/deprecation/add/",
                             {"version": one.pk, "reason": "x", "successor": two.pk})
    assert resp.status_code == 200 and b"itself deprecated" in resp.content

    resp = admin_client.post("/admin/registry/deprecation/", {"action": "lift", "_selected_action": [one.pk]})
    assert resp.status_code == 302
    assert not Deprecation.objects.filter(version=one).exists()
    assert DeprecationEntry.objects.filter(version=one).count() == 2
    assert api.get(f"{BASE}/1.0.0").json()["deprecated"] is False
