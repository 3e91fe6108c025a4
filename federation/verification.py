"""Verification of an upstream record against the roots configured for that upstream (never its own claims)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from action_registry import chain as chainlib
from action_registry.canonical import parse_json
from action_registry.document import Envelope, in_namespace, parse_envelope, verify_envelope_signature
from action_registry.errors import RegistryError, SignatureError
from federation.choices import QuarantineReason


class RecordRefused(Exception):
    """The record must be quarantined: ``reason`` is a QuarantineReason, ``message`` says why."""

    def __init__(self, reason: str, message: str, content_hash: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.content_hash = content_hash


@dataclass(frozen=True)
class VerifiedRecord:
    envelope: Envelope
    published_at: datetime | None
    origin_registry: str | None
    chain: list[dict] = field(default_factory=list)  # the signer's chain, leaf first, as verified

    @property
    def signer_is_root(self) -> bool:
        return len(self.chain) <= 1


def root_infos(root_keys: list[dict]) -> dict[tuple[str, str], chainlib.KeyInfo]:
    """The configured upstream roots as chain.KeyInfo: the only keys a mirrored chain may end in."""
    return {(k["kid"], k["alg"]): chainlib.KeyInfo(kid=k["kid"], alg=k["alg"], public_key=k["public_key"],
                                                   status=chainlib.ACTIVE, role="root")
            for k in root_keys}


def record_verify(raw: bytes, *, name: str, version: str, root_keys: list[dict], namespaces: list[str],
                  fetch_chain) -> VerifiedRecord:
    """Check one upstream record byte for byte; raise RecordRefused with the reason otherwise.

    ``fetch_chain(kid, alg)`` returns the upstream's certificate chain for a non-root signer (leaf first)
    or None; the walk trusts only ``root_keys``, whatever the upstream says about its own keys.
    """
    try:
        record = parse_json(raw)
        if not isinstance(record, dict):
            raise RecordRefused(QuarantineReason.INVALID_RECORD, "the record is not a JSON object")
        envelope = parse_envelope({"action": record.get("action"), "signature": record.get("signature")})
    except RecordRefused:
        raise
    except RegistryError as exc:
        raise RecordRefused(QuarantineReason.INVALID_RECORD, f"{exc.code}: {exc.message}") from None
    computed = envelope.content_hash
    if (envelope.name, envelope.version) != (name, version):
        raise RecordRefused(QuarantineReason.INVALID_RECORD,
                            f"asked for {name}@{version}, got {envelope.name}@{envelope.version}", computed)
    if record.get("content_hash") != computed:
        raise RecordRefused(QuarantineReason.HASH_MISMATCH,
                            f"the record claims {record.get('content_hash')!r}, its bytes hash to {computed}",
                            computed)
    if namespaces and not any(in_namespace(name, ns) for ns in namespaces):
        raise RecordRefused(QuarantineReason.OUT_OF_SCOPE, f"{name} is outside the mirrored namespaces", computed)
    published_at = _parse_published(record.get("published_at"))
    chain = chain_verify(envelope, root_keys=root_keys, fetch_chain=fetch_chain,
                         at=published_at or chainlib.now())
    leaf = chain[0]
    try:
        verify_envelope_signature(envelope, leaf["alg"], leaf["public_key"])
    except SignatureError as exc:
        raise RecordRefused(QuarantineReason.SIGNATURE_INVALID, f"{exc.code}: {exc.message}", computed) from None
    origin = record.get("origin") if isinstance(record.get("origin"), dict) else None
    return VerifiedRecord(envelope=envelope, published_at=published_at,
                          origin_registry=(origin or {}).get("registry"), chain=chain)


def chain_verify(envelope: Envelope, *, root_keys: list[dict], fetch_chain, at: datetime) -> list[dict]:
    """The signer's chain up to a configured root, leaf first, as ``{kid, alg, public_key, ...}`` dicts."""
    roots = root_infos(root_keys)
    kid, alg = envelope.signature.kid, envelope.signature.alg
    computed = envelope.content_hash
    root = roots.get((kid, alg))
    if root is not None:  # a root signed directly: the flat case
        if not chainlib.scope_covers(root.scopes, envelope.name):
            raise RecordRefused(QuarantineReason.OUT_OF_SCOPE, f"root {kid} may not sign {envelope.name}", computed)
        return [{"kid": kid, "alg": alg, "public_key": root.public_key, "role": "root"}]
    links = fetch_chain(kid, alg)
    if not links:
        raise RecordRefused(QuarantineReason.UNTRUSTED_KEY,
                            f"{kid} ({alg}) is not a configured root of this upstream and it serves no chain "
                            "for it", computed)
    infos: dict[tuple[str, str], chainlib.KeyInfo] = {}
    try:
        for link in links:
            info = _link_info(link)
            if (info.kid, info.alg) in roots:
                continue  # a root is what we configured, never what the upstream says it is
            if info.role == "root" or info.parent is None:
                # only a configured root may end a chain, whatever role the upstream claims for this key
                info = chainlib.KeyInfo(**{**info.__dict__, "role": "signing"})
            infos[(info.kid, info.alg)] = info
    except (RegistryError, KeyError, TypeError, ValueError) as exc:
        raise RecordRefused(QuarantineReason.CHAIN_INVALID, f"the chain of {kid} is malformed: {exc}",
                            computed) from None
    leaf = infos.get((kid, alg))
    if leaf is None:
        raise RecordRefused(QuarantineReason.CHAIN_INVALID, f"the chain served for {kid} does not contain it",
                            computed)
    result = chainlib.walk_chain(leaf, lambda k, a: roots.get((k, a)) or infos.get((k, a)), name=envelope.name,
                                 at=at)
    if not result.ok:
        reason = (QuarantineReason.OUT_OF_SCOPE if result.reason == "scope_violation"
                  else QuarantineReason.UNTRUSTED_KEY if result.reason in ("parent_unknown", "untrusted_root")
                  else QuarantineReason.CHAIN_INVALID)
        raise RecordRefused(reason, f"{result.reason}: {result.message}", computed)
    if (result.chain[-1]["kid"], result.chain[-1]["alg"]) not in roots:
        raise RecordRefused(QuarantineReason.UNTRUSTED_KEY, f"the chain of {kid} ends outside the configured roots",
                            computed)
    by_key = {**infos, **roots}
    return [{**link, "public_key": by_key[(link["kid"], link["alg"])].public_key,
             "certificate": _cert_envelope(by_key[(link["kid"], link["alg"])])} for link in result.chain]


def _link_info(link: dict) -> chainlib.KeyInfo:
    cert = None
    envelope = link.get("certificate")
    if isinstance(envelope, dict) and "certificate" not in envelope and link.get("certificate_signature"):
        envelope = {"certificate": envelope, "signature": link["certificate_signature"]}
    if envelope:
        cert = chainlib.parse_certificate(envelope)
    parent_kid = link.get("parent_kid") or (cert.parent_kid if cert else None)
    parent_alg = link.get("parent_alg") or (cert.parent_alg if cert else None)
    return chainlib.KeyInfo(kid=link["kid"], alg=link["alg"], public_key=link["public_key"],
                            status=link.get("status", chainlib.ACTIVE), role=link.get("role", "signing"),
                            scopes=tuple(link.get("scopes") or ()),
                            parent=(parent_kid, parent_alg) if parent_kid else None, certificate=cert)


def _cert_envelope(info: chainlib.KeyInfo) -> dict | None:
    if info.certificate is None:
        return None
    return {"certificate": info.certificate.document, "signature": info.certificate.signature.as_dict()}


def _parse_published(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
