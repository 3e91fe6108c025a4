"""`action-registry key ...`: delegation certificates made offline, and their submission, rotation, revocation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import crypto
from .canonical import canonicalize
from .chain import format_time, make_certificate, parse_certificate, sign_certificate
from .cli import EXIT_OK, CliError, Context, _read_json_file, arg, command


def _private_key(path: str) -> crypto.PrivateKey:
    try:
        return crypto.load_private_key(Path(path).read_bytes())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", code="file_error") from None


def _public_key_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return path  # the base64url key itself


def _time_arg(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    text = value if "T" in value else value + "T00:00:00"
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{value!r} is not a date (YYYY-MM-DD or RFC 3339)", code="usage") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _write(ctx: Context, value: Any, out: str | None) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    if out:
        Path(out).write_text(text)
        ctx.note(f"wrote {out}")
    else:
        ctx.out.write(text)


@command("key delegate", help="Make a delegation certificate offline: the parent key signs the child's public key.",
         description="Writes {certificate, signature}: the child's kid, alg and public key, the namespace scopes "
                     "it may sign for (within the parent's) and its validity window, signed by the parent's "
                     "private key on this machine. Send it with `key submit`; a security reviewer approves it.",
         arguments=[arg("--parent-key", required=True, metavar="FILE", help="The parent's private key (PEM)."),
                    arg("--parent-kid", required=True, metavar="KID"),
                    arg("--child-public-key", required=True, metavar="FILE",
                        help="The child's public key (PEM file, or base64url)."),
                    arg("--kid", required=True, metavar="KID", help="Key id for the child."),
                    arg("--alg", choices=crypto.ALGORITHMS, default=None,
                        help="The child's algorithm (default: read from a PEM file)."),
                    arg("--scope", action="append", required=True, metavar="PREFIX",
                        help="Namespace prefix delegated (repeat)."),
                    arg("--not-before", metavar="DATE", help="Start of validity (default: now)."),
                    arg("--not-after", metavar="DATE", help="End of validity (default: one year)."),
                    arg("-o", "--out", metavar="FILE", help="Write here instead of stdout.")])
def _delegate(ctx: Context) -> int:
    a = ctx.args
    parent = _private_key(a.parent_key)
    text = _public_key_text(a.child_public_key)
    alg = a.alg
    if alg is None:
        for candidate in crypto.ALGORITHMS:
            try:
                crypto.normalize_public_key(candidate, text)
                alg = candidate
                break
            except Exception:  # noqa: BLE001, S112 - try the next algorithm
                continue
        if alg is None:
            raise CliError("--child-public-key is not an Ed25519 or ES256 public key", code="malformed_key")
    now = datetime.now(UTC)
    doc = make_certificate(kid=a.kid, alg=alg, public_key=text, parent_kid=a.parent_kid, scopes=a.scope,
                           not_before=_time_arg(a.not_before, now - timedelta(minutes=5)),
                           not_after=_time_arg(a.not_after, now + timedelta(days=365)))
    _write(ctx, sign_certificate(doc, parent, a.parent_kid), a.out)
    return EXIT_OK


@command("key submit", help="Send a delegation certificate to the registry (pending until a reviewer approves).",
         arguments=[arg("certificate", metavar="CERT.json")])
def _submit(ctx: Context) -> int:
    _, envelope = _read_json_file(ctx.args.certificate)
    cert = parse_certificate(envelope)
    key = ctx.client().submit_delegation(envelope)
    if ctx.json:
        ctx.print_json(key.raw)
    else:
        ctx.print(f"submitted {cert.kid} ({cert.alg}) under {cert.parent_kid}: {key.status}")
    return EXIT_OK


@command("key rotate", help="Replace a key with a new one certified by its parent (or by itself).",
         arguments=[arg("certificate", metavar="CERT.json", help="Certificate of the new key (`key delegate`)."),
                    arg("--old-kid", required=True, metavar="KID", help="The key being replaced.")])
def _rotate(ctx: Context) -> int:
    _, envelope = _read_json_file(ctx.args.certificate)
    parse_certificate(envelope)
    key = ctx.client().rotate_key(ctx.args.old_kid, envelope)
    if ctx.json:
        ctx.print_json(key.raw)
    else:
        ctx.print(f"rotated {ctx.args.old_kid} -> {key.kid} ({key.status})")
    return EXIT_OK


@command("key revoke", help="Revoke a key with a request signed by a key above it in its chain.",
         arguments=[arg("kid", metavar="KID"), arg("--alg", choices=crypto.ALGORITHMS, default=crypto.ED25519),
                    arg("--key", required=True, metavar="FILE", help="Private key of the parent (or higher)."),
                    arg("--signer-kid", required=True, metavar="KID"),
                    arg("--reason", required=True),
                    arg("--compromised-since", metavar="DATE", help="Since when the key is suspect.")])
def _revoke(ctx: Context) -> int:
    a = ctx.args
    signer = _private_key(a.key)
    since = format_time(_time_arg(a.compromised_since, datetime.now(UTC))) if a.compromised_since else None
    body = {"kid": a.kid, "alg": a.alg, "reason": a.reason, "compromised_since": since,
            "requested_at": format_time(datetime.now(UTC))}
    envelope = {"revocation": body, "signature": {"kid": a.signer_kid, "alg": crypto.private_key_alg(signer),
                                                  "sig": crypto.sign(signer, canonicalize(body))}}
    key = ctx.client().revoke_key(a.kid, envelope)
    if ctx.json:
        ctx.print_json(key.raw)
    else:
        ctx.print(f"revoked {key.kid} ({key.alg})")
    return EXIT_OK


@command("key chain", help="Show a key's delegation chain up to its root, as the registry reports it.",
         arguments=[arg("kid", metavar="KID")])
def _chain(ctx: Context) -> int:
    chain = ctx.client().get_key_chain(ctx.args.kid).raw
    if ctx.json:
        ctx.print_json(chain)
        return EXIT_OK
    for depth, key in enumerate(chain["keys"]):
        ctx.print(f"{'  ' * depth}{key['kid']} ({key['alg']}, {key['role']}, {key['status']}) "
                  f"scopes: {', '.join(key['scopes']) or '*'}")
    ctx.note("chain valid" if chain["valid"] else f"chain INVALID at {chain['failed_kid']}: {chain['reason']}")
    return EXIT_OK
