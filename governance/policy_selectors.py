"""Reads of policies, channels and the trust-state digest that runs record as their constraint snapshot."""

from __future__ import annotations

from action_registry.canonical import canonical_and_hash
from core.exceptions import NotFound
from governance.models import (
    Channel,
    ChannelPromotion,
    Policy,
    PolicyVersion,
    Revocation,
    SigningKey,
    TrustState,
)


def policy_list() -> list[Policy]:
    return list(Policy.objects.select_related("current").order_by("name"))


def policy_get(*, name: str) -> Policy:
    policy = Policy.objects.select_related("current").filter(name=name).first()
    if policy is None:
        raise NotFound(f"no policy named {name!r}", code="policy_not_found", suggestion="List them: GET /v1/policies.")
    return policy


def policy_history(*, policy: Policy) -> list[PolicyVersion]:
    return list(PolicyVersion.objects.filter(policy=policy).order_by("number"))


def channel_get(*, name: str) -> Channel:
    channel = Channel.objects.filter(name=name).first()
    if channel is None:
        raise NotFound(f"no channel named {name!r}", code="channel_not_found")
    return channel


def channels_of(*, action_name: str, version: str) -> set[str]:
    """Names of the channels ``action_name@version`` is currently promoted to."""
    return set(ChannelPromotion.objects.filter(action_name=action_name, version=version, withdrawn_at=None)
               .values_list("channel__name", flat=True))


def channels_by_version(*, action_name: str) -> dict[str, set[str]]:
    """``{version: {channel names}}`` for every live promotion of ``action_name`` (one query)."""
    out: dict[str, set[str]] = {}
    for version, channel in ChannelPromotion.objects.filter(action_name=action_name, withdrawn_at=None).values_list(
            "version", "channel__name"):
        out.setdefault(version, set()).add(channel)
    return out


def channel_members(*, channel: Channel) -> list[ChannelPromotion]:
    return list(ChannelPromotion.objects.filter(channel=channel, withdrawn_at=None).order_by("action_name", "id"))


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def trust_state_snapshot() -> dict:
    """Everything a policy decision can depend on: keys (with status and chain), revocations, policies and
    channel contents. Deterministic order, so equal states hash equal."""
    keys = [
        [k["kid"], k["alg"], k["fingerprint"], k["status"], k["parent__kid"] or "", sorted(k["scopes"] or []),
         _iso(k["revoked_at"]), _iso(k["compromised_since"])]
        for k in SigningKey.objects.order_by("kid", "alg").values(
            "kid", "alg", "fingerprint", "status", "parent__kid", "scopes", "revoked_at", "compromised_since")
    ]
    revocations = [[r["key__kid"], r["key__alg"], _iso(r["compromised_since"])]
                   for r in Revocation.objects.order_by("id").values("key__kid", "key__alg", "compromised_since")]
    policies = [[p["name"], p["current__number"], p["current__digest"]]
                for p in Policy.objects.order_by("name").values("name", "current__number", "current__digest")]
    channels = [[c["channel__name"], c["action_name"], c["version"]]
                for c in ChannelPromotion.objects.filter(withdrawn_at=None)
                .order_by("channel__name", "action_name", "version").values("channel__name", "action_name", "version")]
    return {"keys": keys, "revocations": revocations, "policies": policies, "channels": channels}


_digests: dict[tuple, str] = {}


def trust_state_digest() -> str:
    """``sha256:`` of the RFC 8785 bytes of :func:`trust_state_snapshot`, cached per trust-state version
    (every key, revocation, policy and channel change bumps it), so a run report costs one small query."""
    # changed_at beside the counter: a database rebuilt from scratch (tests) restarts the counter.
    version = TrustState.objects.filter(pk=1).values_list("version", "changed_at").first()
    if version is None:
        return canonical_and_hash(trust_state_snapshot())[1]
    if version not in _digests:
        if len(_digests) > 64:
            _digests.clear()
        _digests[version] = canonical_and_hash(trust_state_snapshot())[1]
    return _digests[version]
