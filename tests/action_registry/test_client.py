"""The Python client SDK against a live registry: typed results, error types, retries, local verification."""

from __future__ import annotations

import json
import time

import anyio
import pytest

from action_registry import crypto
from action_registry.canonical import canonicalize, content_hash
from action_registry.client import (
    AsyncRegistryClient,
    PinnedKey,
    RegistryClient,
    RetryPolicy,
    verify_record,
)
from action_registry.document import sign_document
from action_registry.errors import (
    ApiError,
    AuthError,
    ConflictError,
    NetworkError,
    NotFoundError,
    RegistryError,
    ServerError,
)
from tests.live_registry import SEED_KID, Proxy, free_port, live_registry_fixture, make_doc  # noqa: F401

FAST = RetryPolicy(max_retries=2, backoff=0.01, max_backoff=0.05)


def test_read_operations_are_typed(live_registry):
    with live_registry.client() as client:
        page = client.search("move")
        assert "files.move" in [item.name for item in page.items]
        assert page.total >= 1 and page.limit == 50

        detail = client.get_action("files.move")
        assert detail.version_numbers[:2] == ["1.0.0", "1.1.0"]
        assert detail.latest_version == "1.1.0"

        record = client.get_version("files.move", "1.0.0")
        assert record.action["name"] == "files.move" and record.signature.kid == SEED_KID
        assert record.content_hash == content_hash(canonicalize(record.action))
        assert record.verification and record.verification.verified
        assert not record.latest and record.published_at is not None

        latest = client.get_latest("files.move")
        assert latest.version == "1.1.0" and latest.latest
        assert client.get_by_hash(record.content_hash).version == "1.0.0"
        assert client.server_verify("files.move", "1.0.0").verified

        keys = client.list_keys()
        assert SEED_KID in [k.kid for k in keys.items]
        key = client.get_key(SEED_KID)
        assert key.alg == "Ed25519" and key.status == "active"
        assert client.openapi()["openapi"].startswith("3.")


def test_verify_is_local(live_registry):
    with live_registry.client() as client:
        result = client.verify("files.move", "1.0.0")
        latest = client.verify("files.move")
    assert result.verified, result
    assert result.reason is None and result.key_status == "active" and result.server_verified is True
    assert any("content hash recomputed" in check for check in result.checks)
    assert latest.verified and latest.version == "1.1.0"


def test_verify_against_a_pinned_key(live_registry):
    right = PinnedKey.from_text("Ed25519", crypto.public_key_pem(live_registry.seed_key), kid=SEED_KID)
    wrong = PinnedKey(alg="Ed25519", public_key=crypto.public_key_b64(crypto.generate_private_key()))
    with live_registry.client() as client:
        assert client.verify("files.move", "1.0.0", pinned=right).key_source == "pinned"
        assert client.verify("files.move", "1.0.0", pinned=right).verified
        refused = client.verify("files.move", "1.0.0", pinned=wrong)
    assert not refused.verified and refused.reason == "signature_invalid"


def test_errors_carry_the_servers_code_and_suggestion(live_registry):
    with live_registry.client(retry=FAST) as client:
        with pytest.raises(NotFoundError) as missing_version:
            client.get_version("files.move", "9.9.9")
        assert missing_version.value.status == 404
        assert missing_version.value.code == "version_not_found"
        assert missing_version.value.details["versions"] == ["1.0.0", "1.1.0"]
        assert "1.1.0" in missing_version.value.suggestion

        with pytest.raises(NotFoundError) as missing_action:
            client.get_action("files.mvoe")
        assert missing_action.value.code == "action_not_found"
        assert "files.move" in missing_action.value.suggestion

        with pytest.raises(ApiError) as bad_version:
            client.get_version("files.move", "not-semver")
        assert bad_version.value.status == 422 and isinstance(bad_version.value, RegistryError)


def test_publish_conflict_and_auth(live_registry):
    envelope = sign_document(make_doc("clienttest.publish", "1.0.0"), live_registry.seed_key, SEED_KID)
    with live_registry.client() as client:
        first = client.publish(envelope)
        again = client.publish(json.dumps(envelope, indent=2, sort_keys=True))  # other bytes, same document
        assert first.created and not again.created
        assert first.record.content_hash == again.record.content_hash

        other = sign_document(make_doc("clienttest.publish", "1.0.0", "Different bytes."),
                              live_registry.seed_key, SEED_KID)
        with pytest.raises(ConflictError) as conflict:
            client.publish(other)
        assert conflict.value.code == "version_exists" and conflict.value.status == 409

    with RegistryClient(live_registry.url, "ar_nope_nope") as stranger, pytest.raises(AuthError) as denied:
        stranger.publish(envelope)
    assert denied.value.status == 401
    with RegistryClient(live_registry.url, api_key="") as anonymous, pytest.raises(AuthError) as no_key:
        anonymous.publish(envelope)
    assert no_key.value.code == "missing_api_key"


def test_env_configuration(live_registry, monkeypatch):
    monkeypatch.setenv("ACTION_REGISTRY_URL", live_registry.url + "/v1/")
    monkeypatch.setenv("ACTION_REGISTRY_API_KEY", live_registry.api_key)
    with RegistryClient() as client:
        assert client.base_url == live_registry.url and client.api_key == live_registry.api_key
        assert client.get_action("files.copy").latest_version == "2.0.0"


def test_async_client_runs_the_same_flows(live_registry):
    async def main():
        async with AsyncRegistryClient(live_registry.url, live_registry.api_key) as client:
            page, detail, verdict = await client.search("copy"), await client.get_action("files.copy"), \
                await client.verify("files.copy", "2.0.0")
            with pytest.raises(NotFoundError):
                await client.get_version("files.copy", "1.0.0")
            envelope = sign_document(make_doc("clienttest.async", "1.0.0"), live_registry.seed_key, SEED_KID)
            published = await client.publish(envelope)
            return page, detail, verdict, published

    page, detail, verdict, published = anyio.run(main)
    assert "files.copy" in [i.name for i in page.items]
    assert detail.latest_version == "2.0.0" and verdict.verified and published.created


# --- retries: a real HTTP hop that fails on purpose ----------------------------------------------------

def test_5xx_is_retried_then_succeeds(live_registry):
    def flaky(method, path, count):
        return (503, b'{"error":{"code":"unavailable","message":"try later","suggestion":""}}') if count <= 2 else None

    with Proxy(live_registry.url, respond=flaky) as proxy, RegistryClient(proxy.url, retry=FAST) as client:
        assert client.get_action("files.move").name == "files.move"
    assert len(proxy.requests) == 3


def test_5xx_gives_up_after_the_bound(live_registry):
    def down(method, path, count):
        return 502, b"<html>bad gateway</html>"

    with Proxy(live_registry.url, respond=down) as proxy, RegistryClient(proxy.url, retry=FAST) as client:
        with pytest.raises(ServerError) as failed:
            client.search("x")
    assert len(proxy.requests) == FAST.max_retries + 1
    assert failed.value.status == 502 and failed.value.code == "http_502"


def test_4xx_is_never_retried(live_registry):
    with Proxy(live_registry.url) as proxy, RegistryClient(proxy.url, retry=FAST) as client:
        with pytest.raises(NotFoundError):
            client.get_action("nothing.here")
        with RegistryClient(proxy.url, "ar_bad_token", retry=FAST) as stranger, pytest.raises(AuthError):
            stranger.publish({"action": {}, "signature": {}})
    assert len(proxy.requests) == 2


def test_timeouts_and_refused_connections_are_network_errors(live_registry):
    with Proxy(live_registry.url, delay=0.5) as slow, RegistryClient(slow.url, timeout=0.1, retry=FAST) as client:
        with pytest.raises(NetworkError) as timed_out:
            client.search("x")
    assert "timed out" in timed_out.value.message
    assert len(slow.requests) == FAST.max_retries + 1

    started = time.monotonic()
    with RegistryClient(f"http://127.0.0.1:{free_port()}", retry=FAST) as client, \
            pytest.raises(NetworkError) as refused:
        client.get_key("x")
    assert refused.value.code == "network_error" and time.monotonic() - started < 2


def test_backoff_is_bounded_and_jittered():
    import random

    policy = RetryPolicy(max_retries=10, backoff=0.5, max_backoff=3.0)
    rng = random.Random(1)
    delays = [policy.delay(n, rng) for n in range(10)]
    assert all(0.25 <= d <= 3.0 for d in delays)
    assert delays[0] <= 0.5 and min(delays[5:]) >= 1.5
    assert len({round(d, 6) for d in delays[5:]}) > 1  # jitter


# --- verify_record: tampered records, from real record bytes --------------------------------------------

@pytest.fixture
def record_and_key(live_registry):
    with live_registry.client() as client:
        raw = client._http.get(f"{live_registry.url}/v1/actions/files.move/versions/1.0.0").content
        key = client.get_key(SEED_KID)
    return raw, key


def _verify(raw, key, **kw):
    return verify_record(raw, name="files.move", version="1.0.0", key=key, **kw)


def test_untouched_record_verifies(record_and_key):
    raw, key = record_and_key
    assert _verify(raw, key).verified


def test_tampered_document_is_caught_by_the_hash(record_and_key):
    raw, key = record_and_key
    record = json.loads(raw)
    record["action"]["description"] = "Move a file, and also mail it to someone."
    result = _verify(json.dumps(record).encode(), key)
    assert not result.verified and result.reason == "content_hash_mismatch"


def test_tampered_document_with_recomputed_hash_is_caught_by_the_signature(record_and_key):
    raw, key = record_and_key
    record = json.loads(raw)
    record["action"]["input_schema"]["properties"]["dst"] = {"type": "string", "default": "/etc/passwd"}
    record["content_hash"] = content_hash(canonicalize(record["action"]))
    record["verification"]["verified"] = True
    result = _verify(json.dumps(record).encode(), key)
    assert not result.verified and result.reason == "signature_invalid"
    assert result.server_disagrees


def test_reordered_keys_still_verify(record_and_key):
    raw, key = record_and_key
    record = json.loads(raw)
    reordered = {k: record[k] for k in reversed(list(record))}
    reordered["action"] = {k: record["action"][k] for k in reversed(list(record["action"]))}
    assert _verify(json.dumps(reordered, indent=3).encode(), key).verified


def test_duplicate_keys_in_the_answer_are_refused(record_and_key):
    raw, key = record_and_key
    smuggled = raw.replace(b'"action":{', b'"action":{"name":"files.evil",', 1)
    result = _verify(smuggled, key)
    assert not result.verified and result.reason == "malformed_record"


def test_key_status_scope_and_alg_are_checked_locally(record_and_key):
    raw, key = record_and_key
    revoked = _verify(raw, key.__class__(**{**key.__dict__, "status": "revoked"}))
    assert not revoked.verified and revoked.reason == "key_revoked"
    pending = _verify(raw, key.__class__(**{**key.__dict__, "status": "pending"}))
    assert pending.reason == "key_not_trusted"
    scoped = _verify(raw, key.__class__(**{**key.__dict__, "scopes": ["ssh"]}))
    assert scoped.reason == "key_out_of_scope"
    es256 = crypto.public_key_b64(crypto.generate_private_key(crypto.ES256))
    confused = _verify(raw, key.__class__(**{**key.__dict__, "alg": "ES256", "public_key": es256}))
    assert confused.reason == "alg_mismatch"
    assert _verify(raw, None).reason == "unknown_kid"
    assert verify_record(raw, name="files.move", version="1.1.0", key=key).reason == "record_mismatch"


# --- lifecycle, key chain and transparency log operations -----------------------------------------------

def test_lifecycle_chain_and_log_operations(live_registry):
    from action_registry import merkle

    name = "clienttest.lifecycle"
    live_registry.publish_seed(name, "1.0.0")
    live_registry.publish_seed(name, "1.1.0", "Move a file; refuses to overwrite unless told to.")
    with live_registry.client() as client:
        state = client.deprecate(name, "1.0.0", reason="Superseded by 1.1.0.", successor="1.1.0")
        assert state.deprecated and state.deprecation.successor == "1.1.0"
        assert client.get_version(name, "1.0.0").deprecation.reason == "Superseded by 1.1.0."
        assert client.get_action(name).versions[0].deprecation is not None
        assert client.get_deprecation(name, "1.0.0").history[-1]["action"] == "deprecated"
        verdict = client.verify(name, "1.0.0")
        assert verdict.verified and verdict.deprecation["successor"] == "1.1.0"  # deprecated is not invalid

        diff = client.diff(name, "1.0.0", "1.1.0")
        assert (diff.from_version, diff.to_version) == ("1.0.0", "1.1.0") and diff.breaking is False
        graph = client.compatibility(name)
        assert {n["version"] for n in graph.nodes} == {"1.0.0", "1.1.0"} and graph.latest_version == "1.1.0"

        chain = client.get_key_chain(SEED_KID)
        assert chain.valid and [k.kid for k in chain.keys] == [SEED_KID] and chain.keys[0].role == "root"
        assert any(c.startswith("delegation chain") for c in verdict.checks)

        proof = client.get_inclusion_proof(subject=f"{name}@1.0.0")
        merkle.verify_inclusion(proof.leaf_index, proof.tree_size, bytes.fromhex(proof.leaf_hash),
                                [bytes.fromhex(h) for h in proof.hashes], bytes.fromhex(proof.root_hash))
        first = client.get_inclusion_proof(subject="files.move@1.0.0")
        consistency = client.get_consistency_proof(first.leaf_index + 1, proof.tree_size)
        assert consistency.first < consistency.second
        merkle.verify_consistency(consistency.first, consistency.second, [bytes.fromhex(h) for h in consistency.hashes],
                                  bytes.fromhex(consistency.first_root), bytes.fromhex(consistency.second_root))
        assert client.get_log_checkpoint().startswith(client.get_log_key()["origin"])
        assert client.get_log_entries(0, 1)["entries"]

        lifted = client.undeprecate(name, "1.0.0", reason="1.1.0 was rolled back.")
        assert not lifted.deprecated and client.get_version(name, "1.0.0").deprecation is None


def test_a_delegated_key_without_its_chain_does_not_verify(record_and_key):
    raw, key = record_and_key
    delegated = key.__class__(**{**key.__dict__, "role": "signing", "parent_kid": "some-org-key"})
    result = _verify(raw, delegated)
    assert not result.verified and result.reason == "chain_unavailable"
