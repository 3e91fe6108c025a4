"""The publish path's cost (statements per publish) and the freshness of what it caches per trust state."""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core.services import event_emit
from core.transparency import log_append, log_receipt_for
from governance import services as governance_services
from governance.policy_services import policy_save
from tests.conftest import make_doc


def _publish(api, signer, name="ssh.exec", version="1.0.0", **overrides):
    return api.publish(signer.sign(make_doc(name, version, **overrides)))


def test_publish_statement_budget(api, trusted_signer, django_assert_max_num_queries):
    assert _publish(api, trusted_signer, version="1.0.0").status_code == 201
    # API key with the trust state, compatibility predecessors, then one registry_publish statement (action locked or
    # created, blob, version, latest, log lock, event, log head, leaf and nodes); here inside the test's
    # transaction, so in a savepoint (+2). A new action: no predecessors. No deprecation or origin read: a
    # version just created has neither. (After commit, which a test transaction never reaches: the event's
    # fan-out marks it dispatched.)
    with django_assert_max_num_queries(5):
        assert _publish(api, trusted_signer, version="1.1.0",
                        compatibility={"compatible_with": ["1.0.0"]}).status_code == 201
    with django_assert_max_num_queries(5):
        assert _publish(api, trusted_signer, name="ssh.copy").status_code == 201


def test_receipt_of_a_publish_is_the_stored_one(api, trusted_signer):
    for version in ("1.0.0", "1.0.1", "1.0.2"):
        resp = _publish(api, trusted_signer, version=version)
        assert resp.status_code == 201
        assert resp.json()["receipt"] == log_receipt_for(kind="action.published", subject=f"ssh.exec@{version}")
    again = _publish(api, trusted_signer, version="1.0.1")
    assert again.status_code == 200
    assert again.json()["receipt"] == log_receipt_for(kind="action.published", subject="ssh.exec@1.0.1")


def test_revoked_key_refused_on_the_very_next_publish(api, trusted_signer):
    assert _publish(api, trusted_signer, version="1.0.0").status_code == 201
    governance_services.signing_key_revoke(key=trusted_signer.model, actor="test", reason="compromised")
    resp = _publish(api, trusted_signer, version="1.0.1")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "key_revoked"


def test_cached_claims_and_policies_follow_changes(api, trusted_signer, make_signer):
    other = make_signer("other-root")
    assert _publish(api, other, name="ssh.a").status_code == 201  # caches claims and policies
    claimer = User.objects.create_user("claimer", password="pw", is_staff=True)
    gov = User.objects.create_user("gov", password="pw", is_staff=True)
    gov.groups.add(Group.objects.get(name="governance team"))
    claim = governance_services.namespace_claim(prefix="ssh", owner_kids=[trusted_signer.kid], actor="test",
                                                user=claimer)
    governance_services.namespace_review(claim=claim, reviewer=gov, approve=True, reason="ssh is ours")
    resp = _publish(api, other, name="ssh.b")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "namespace_owned"
    assert _publish(api, other, name="files.a").status_code == 201
    policy_save(name="files-root", kind="namespace_signing", author="user:a", reason="files chain",
                document={"namespace": "files", "root_kids": [trusted_signer.kid]})
    resp = _publish(api, other, name="files.b")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "policy_denied"


def test_log_lock_taken_once_per_transaction(transactional_db):
    """The outbox (event_emit) takes the log lock with a statement of its own; a log append takes it inside its
    one statement (core_log_append). Neither takes it again in a transaction that holds it."""
    def locks(ctx):
        return sum("pg_advisory_xact_lock" in q["sql"] for q in ctx.captured_queries)

    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        event_emit(kind="test.one", payload={})
        log_append(kind="test.one", payload={})
        event_emit(kind="test.two", payload={})
    assert locks(ctx) == 1
    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        log_append(kind="test.two", payload={})
        event_emit(kind="test.three", payload={})  # the append took it
    assert locks(ctx) == 0
    # A savepoint rolled back after taking the lock released it (PostgreSQL does): the next event retakes it.
    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        try:
            with transaction.atomic():
                log_append(kind="test.three", payload={})
                raise RuntimeError
        except RuntimeError:
            pass
        event_emit(kind="test.four", payload={})
    assert locks(ctx) == 1
