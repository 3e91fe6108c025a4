"""Privilege escalation in the admin, through the real admin pages and actions (the forms a browser posts):
each refused attempt leaves the trust store, the audit trail, the outbox and the log exactly as they were, and
the same post by someone entitled to it does change them (so the refusals are not a malformed form)."""

from __future__ import annotations

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.test import Client

from core.models import AuditEntry, Event, LogLeaf
from governance import services
from governance.models import ApiKey, Revocation, SigningKey
from tests.conftest import Api
from tests.governance.test_chains import certificate, new_signer, user_in

REVIEW = "/admin/governance/delegationrequest/{}/review/"
QUEUE = "/admin/governance/delegationrequest/"
KEYS = "/admin/governance/signingkey/"


def _state() -> tuple:
    """Everything an escalation could change."""
    return (list(SigningKey.objects.order_by("pk").values_list("kid", "status", "scopes", "description",
                                                                "reviewed_by", "revoked_at")),
            list(ApiKey.objects.order_by("pk").values_list("name", "namespaces", "owner", "is_active")),
            Revocation.objects.count(), AuditEntry.objects.count(), Event.objects.count(), LogLeaf.objects.count())


def _pending(client, make_signer, *, owner=None) -> SigningKey:
    """A pending org-key delegation under a trusted root ``root-1``, submitted through the API with the key
    ``submitter`` (owned by ``owner``)."""
    root = make_signer("root-1")
    issued = services.api_key_create(name="submitter", namespaces=["ssh"], actor="test")
    if owner is not None:
        ApiKey.objects.filter(pk=issued.api_key.pk).update(owner=owner)
    child = new_signer("queued-org")
    assert Api(client, issued.token).post("/v1/keys", certificate(root, child, ["ssh"])).status_code == 202
    return SigningKey.objects.get(kid="queued-org")


def _bulk(client, model_url: str, action: str, pk: int, **extra):
    """The changelist action, confirmed on its reason page, as the browser posts it."""
    return client.post(model_url, {"action": action, ACTION_CHECKBOX_NAME: [pk], "index": 0, "confirm": "yes",
                                   "reason": "escalating", **extra})


def test_a_governance_member_without_the_reviewer_role_cannot_approve(client, make_signer, db):
    key = _pending(client, make_signer)
    gina = user_in("governance team", "gina")
    before = _state()

    client.force_login(gina)
    assert client.post(REVIEW.format(key.pk), {"decision": "approve", "reason": "trust me"}).status_code == 403
    _bulk(client, QUEUE, "approve", key.pk)
    _bulk(client, QUEUE, "reject", key.pk)
    # nor can she hand herself the role: the user admin is not hers
    reviewers = Group.objects.get(name="security reviewers")
    assert client.post(f"/admin/auth/user/{gina.pk}/change/", {"username": "gina", "groups": [reviewers.pk],
                                                                "is_staff": "on", "is_active": "on"}
                       ).status_code == 403
    assert not gina.groups.filter(pk=reviewers.pk).exists()
    assert _state() == before

    client.force_login(user_in("security reviewers", "rita"))  # the same form, from a reviewer, works
    assert client.post(REVIEW.format(key.pk), {"decision": "approve", "reason": "checked"}).status_code == 302
    assert SigningKey.objects.get(pk=key.pk).status == "active"


def test_a_reviewer_cannot_approve_their_own_request(client, make_signer, db):
    sam = user_in("security reviewers", "sam")
    key = _pending(client, make_signer, owner=sam)  # submitted with sam's own API key
    before = _state()

    client.force_login(sam)
    page = client.post(REVIEW.format(key.pk), {"decision": "approve", "reason": "mine, and fine"}, follow=True)
    assert b"two_person_rule" in page.content
    page = _bulk(client, QUEUE, "approve", key.pk)
    assert page.status_code == 302
    assert "two_person_rule" in " ".join(str(m) for m in client.get(QUEUE).context["messages"])
    _bulk(client, QUEUE, "reject", key.pk)  # deciding either way is reviewing
    assert _state() == before

    client.force_login(user_in("security reviewers", "olga"))
    assert _bulk(client, QUEUE, "approve", key.pk).status_code == 302
    assert SigningKey.objects.get(pk=key.pk).status == "active"


def test_reassigning_the_submitting_api_key_does_not_lift_the_two_person_rule(client, make_signer, db):
    """Someone in both groups submits with their own API key, gives the key to someone else in the admin
    (the governance team may), then reviews: still their own request (it was approved before the fix)."""
    vic = user_in("security reviewers", "vic")
    vic.groups.add(Group.objects.get(name="governance team"))
    key = _pending(client, make_signer, owner=vic)
    api_key = ApiKey.objects.get(name="submitter")

    client.force_login(vic)
    assert client.post(f"/admin/governance/apikey/{api_key.pk}/change/",
                       {"owner": user_in("read-only auditors", "otto").pk}).status_code == 302
    assert ApiKey.objects.get(pk=api_key.pk).owner.username == "otto"
    change = AuditEntry.objects.get(action="api_key.owner_changed", target="submitter")
    assert (change.actor, change.data) == ("user:vic", {"from": "vic", "to": "otto"})
    page = client.post(REVIEW.format(key.pk), {"decision": "approve", "reason": "not mine any more"}, follow=True)
    assert b"two_person_rule" in page.content
    assert SigningKey.objects.get(pk=key.pk).status == "pending"


def test_a_read_only_auditor_cannot_change_a_key(client, make_signer, db):
    key = _pending(client, make_signer)
    root = SigningKey.objects.get(kid="root-1")
    api_key = ApiKey.objects.get(name="submitter")
    audrey = user_in("read-only auditors", "audrey")
    before = _state()

    client.force_login(audrey)
    assert client.get(f"{KEYS}{root.pk}/change/").status_code == 200  # she may look
    assert client.post(f"{KEYS}{root.pk}/change/", {"kid": "root-1", "alg": "Ed25519", "scopes": '["*"]',
                                                    "description": "widened"}).status_code == 403
    assert client.post(f"{KEYS}add/", {"kid": "audrey-root", "alg": "Ed25519",
                                       "public_key": new_signer("x").public_b64, "scopes": "[]",
                                       "description": ""}).status_code == 403
    _bulk(client, KEYS, "revoke_keys", root.pk)
    assert client.post(REVIEW.format(key.pk), {"decision": "approve", "reason": "x"}).status_code == 403
    assert client.post(f"/admin/governance/apikey/{api_key.pk}/change/", {"owner": audrey.pk}).status_code == 403
    client.post("/admin/governance/apikey/", {"action": "revoke", ACTION_CHECKBOX_NAME: [api_key.pk], "index": 0})
    assert _state() == before

    # The same posts from those entitled to them work: a reviewer revokes the key, the governance team the API key.
    client.force_login(user_in("security reviewers", "rita"))
    _bulk(client, KEYS, "revoke_keys", root.pk)
    assert SigningKey.objects.get(pk=root.pk).status == "revoked"
    client.force_login(user_in("governance team", "gus"))
    client.post("/admin/governance/apikey/", {"action": "revoke", ACTION_CHECKBOX_NAME: [api_key.pk], "index": 0})
    assert not ApiKey.objects.get(pk=api_key.pk).is_active


def test_admin_review_and_actions_need_csrf(make_signer, client, db):
    """A page elsewhere that makes a logged-in reviewer's browser post the review form or an action."""
    key = _pending(client, make_signer)
    root = SigningKey.objects.get(kid="root-1")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user_in("security reviewers", "rita"))
    before = _state()
    assert strict.post(REVIEW.format(key.pk), {"decision": "approve", "reason": "forged"}).status_code == 403
    assert _bulk(strict, QUEUE, "approve", key.pk).status_code == 403
    assert _bulk(strict, KEYS, "revoke_keys", root.pk).status_code == 403
    assert _state() == before
