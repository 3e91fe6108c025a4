"""The action document contract: names, SemVer versions, JSON Schemas, envelopes and their signatures."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import semver

from . import crypto
from .canonical import DEFAULT_MAX_DEPTH, canonicalize, check_value, content_hash
from .errors import DocumentError, SignatureError

NAME_MAX = 200
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$")
SEGMENT_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
KID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
REQUIRED_FIELDS = ("name", "version", "description", "input_schema", "output_schema")
OPTIONAL_FIELDS = ("metadata", "compatibility", "steps")
DESCRIPTION_MAX = 20_000
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise DocumentError("name must be a non-empty string", code="invalid_name")
    if len(name) > NAME_MAX:
        raise DocumentError(f"name is {len(name)} characters; at most {NAME_MAX}", code="invalid_name")
    # fullmatch, not match: "$" also matches before a trailing newline, so "ssh.exec\n" passed as a second,
    # look-alike name (issue 12).
    if not NAME_RE.fullmatch(name):
        raise DocumentError(
            f"name {name[:80]!r} is not a dotted namespace path", code="invalid_name",
            suggestion="Use 2+ lowercase segments matching [a-z][a-z0-9_-]*, joined by dots, e.g. ssh.exec.")
    return name


def check_namespace(prefix: Any) -> str:
    """A namespace prefix: one or more name segments (``ssh``, ``production.db``)."""
    if not isinstance(prefix, str) or len(prefix) > NAME_MAX or not all(
            SEGMENT_RE.fullmatch(seg) for seg in prefix.split(".")):  # fullmatch: no trailing newline
        raise DocumentError(f"{str(prefix)[:80]!r} is not a namespace prefix", code="invalid_namespace",
                            suggestion="Use lowercase segments matching [a-z][a-z0-9_-]*, e.g. ssh or production.db.")
    return prefix


def check_version(version: Any) -> semver.Version:
    if not isinstance(version, str):
        raise DocumentError("version must be a SemVer string", code="invalid_version")
    try:
        return semver.Version.parse(version)
    except (ValueError, TypeError):
        raise DocumentError(f"version {version[:60]!r} is not strict SemVer 2.0.0", code="invalid_version",
                            suggestion="Use MAJOR.MINOR.PATCH, e.g. 1.0.0 or 2.1.0-rc.1.") from None


def check_kid(kid: Any) -> str:
    if not isinstance(kid, str) or not KID_RE.fullmatch(kid):  # fullmatch: "k1\n" is not "k1" (issue 12)
        raise DocumentError("kid must be 1-128 characters of [A-Za-z0-9._:-]", code="invalid_kid")
    return kid


def in_namespace(name: str, prefix: str) -> bool:
    """True when ``prefix`` covers ``name`` segment-wise (``ssh`` covers ``ssh.exec``, not ``sshd.x``)."""
    return name == prefix or name.startswith(prefix + ".")


def namespace_of(name: str) -> str:
    return name.split(".", 1)[0]


def _check_schema(field: str, schema: Any) -> None:
    if not isinstance(schema, dict | bool):
        raise DocumentError(f"{field} must be a JSON Schema (an object or a boolean)", code="invalid_schema")
    # jsonschema-rs checks against the metaschema ~500x faster; the pure-Python jsonschema stays the
    # authority (and the source of the error message) whenever the fast check is not a plain yes.
    if isinstance(schema, dict):
        # Security (issue 12): a $ref fan-out bomb is refused here, before the compatibility diff walks it.
        from .diff import schema_check_expansion  # diff imports errors/versions only; local to keep it lazy
        try:
            schema_check_expansion(schema)
        except DocumentError as exc:
            exc.details = {"field": field}
            raise
    if isinstance(schema, bool) or (schema.get("$schema", DRAFT_2020_12) == DRAFT_2020_12
                                    and jsonschema_rs.meta.is_valid(schema)):
        return
    # Imported here: the pure-Python jsonschema costs ~0.4 s to import, which every CLI command paid for this
    # rare branch (a schema that is invalid, or not Draft 2020-12).
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise DocumentError(f"{field} is not a valid Draft 2020-12 JSON Schema at {where}: {exc.message[:300]}",
                            code="invalid_schema",
                            suggestion="Validate the schema with a Draft 2020-12 validator before signing.",
                            details={"field": field, "path": where}) from None


def validate_document(doc: Any) -> dict:
    """Check an action document against the contract; return it unchanged."""
    if not isinstance(doc, dict):
        raise DocumentError("the action document must be a JSON object")
    missing = [f for f in REQUIRED_FIELDS if f not in doc]
    if missing:
        raise DocumentError(f"missing field(s): {', '.join(missing)}", code="invalid_document",
                            suggestion=f"An action document has {', '.join(REQUIRED_FIELDS)} (+ optional metadata).")
    unknown = sorted(set(doc) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise DocumentError(f"unknown field(s): {', '.join(unknown)}", code="invalid_document",
                            suggestion="Put free-form data under metadata.")
    check_name(doc["name"])
    check_version(doc["version"])
    if not isinstance(doc["description"], str):
        raise DocumentError("description must be a string", code="invalid_document")
    if len(doc["description"]) > DESCRIPTION_MAX:
        raise DocumentError(f"description is over {DESCRIPTION_MAX} characters", code="invalid_document")
    if "\x00" in doc["description"]:  # PostgreSQL text cannot hold it: refuse here, not as a 500 at INSERT
        raise DocumentError("description contains U+0000 (NUL)", code="invalid_document",
                            suggestion="Remove the NUL character from the description.")
    _check_schema("input_schema", doc["input_schema"])
    _check_schema("output_schema", doc["output_schema"])
    if "metadata" in doc and not isinstance(doc["metadata"], dict):
        raise DocumentError("metadata must be an object", code="invalid_document")
    if "compatibility" in doc:
        _check_compatibility(doc["compatibility"])
    if "steps" in doc and not isinstance(doc["steps"], list):
        raise DocumentError("steps must be a list of {id, action, after}", code="invalid_document")
    return doc


def _check_compatibility(value: Any) -> None:
    if not isinstance(value, dict) or set(value) - {"breaks", "compatible_with"}:
        raise DocumentError("compatibility must be {breaks: [...], compatible_with: [...]}",
                            code="invalid_document")
    for key, items in value.items():
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise DocumentError(f"compatibility.{key} must be a list of versions or ranges",
                                code="invalid_document")


def parse_signature(block: Any) -> crypto.SignatureBlock:
    if not isinstance(block, dict) or set(block) != {"kid", "alg", "sig"}:
        raise DocumentError("signature must be exactly {kid, alg, sig}", code="invalid_signature_block",
                            suggestion="Sign with `action-registry sign`, which writes the envelope.")
    if not all(isinstance(block[k], str) for k in ("kid", "alg", "sig")):
        raise DocumentError("kid, alg and sig must be strings", code="invalid_signature_block")
    check_kid(block["kid"])
    crypto.check_alg(block["alg"])
    return crypto.SignatureBlock(kid=block["kid"], alg=block["alg"], sig=block["sig"])


@dataclass(frozen=True)
class Envelope:
    """A validated, canonicalised, signed action: what the publish path works with."""

    document: dict
    canonical: bytes
    content_hash: str
    signature: crypto.SignatureBlock

    @property
    def name(self) -> str:
        return self.document["name"]

    @property
    def version(self) -> str:
        return self.document["version"]


def parse_envelope(body: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Envelope:
    """``{"action": {...}, "signature": {...}}`` -> ``Envelope`` (no signature check yet)."""
    if not isinstance(body, dict) or "action" not in body or "signature" not in body:
        raise DocumentError('the body must be {"action": {document}, "signature": {kid, alg, sig}}',
                            code="invalid_envelope", suggestion="Use the envelope `action-registry sign` writes.")
    extra = set(body) - {"action", "signature"}
    if extra:
        raise DocumentError(f"unknown envelope field(s): {', '.join(sorted(extra))}", code="invalid_envelope")
    doc = validate_document(body["action"])
    plain = check_value(doc, max_depth=max_depth)
    signature = parse_signature(body["signature"])
    data = canonicalize(doc, plain=plain)
    return Envelope(document=doc, canonical=data, content_hash=content_hash(data), signature=signature)


def sign_document(doc: dict, key: crypto.PrivateKey, kid: str) -> dict:
    """Validate, canonicalise and sign; return the envelope to publish."""
    validate_document(doc)
    check_value(doc)
    check_kid(kid)
    sig = crypto.sign(key, canonicalize(doc))
    return {"action": doc, "signature": {"kid": kid, "alg": crypto.private_key_alg(key), "sig": sig}}


def verify_envelope_signature(envelope: Envelope, alg: str, public_key_b64: str) -> None:
    """Check the signature block against a public key of algorithm ``alg``; refuse algorithm confusion."""
    if envelope.signature.alg != alg:
        raise SignatureError(
            f"signature alg {envelope.signature.alg} does not match key {envelope.signature.kid} ({alg})",
            code="alg_mismatch", suggestion=f"Sign with the {alg} key, or name the key that made the signature.")
    crypto.verify(alg, public_key_b64, envelope.canonical, envelope.signature.sig)
