"""`action-registry snapshot verify|fetch|verify-action|download`: signed bundles, checked with no network."""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import snapshot as snap
from .cli import EXIT_OK, EXIT_VERIFY_FAILED, CliError, Context, arg, command

_ROOT = arg("--root", required=True, metavar="ROOT_PUBLIC_KEY",
            help="The registry's offline root public key (PEM file, or base64url text).")
_STATE = arg("--state-dir", metavar="DIR", default=None,
             help=f"Where the last versions seen are kept (default: ${snap.ENV_STATE_DIR} or "
                  "~/.config/action-registry).")


def _root_key(text: str) -> dict:
    path = Path(text)
    try:
        if path.is_file():
            text = path.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {text}: {exc.strerror}", code="file_error") from None
    return snap.root_key_from_text(text)


def _state_dir(ctx: Context) -> Path:
    return Path(ctx.args.state_dir) if ctx.args.state_dir else snap.state_dir_default()


@command("snapshot verify", help="Verify a snapshot bundle offline (metadata, freshness, rollback, every entry).",
         description="Checks the TUF metadata against the root key you trust (root, timestamp, snapshot, targets and "
                     "each namespace's delegated role), refuses an expired bundle (freeze attack) or one older than "
                     "the last seen on this machine (rollback attack), then every entry: length and hash, and at "
                     "the full level its publisher signature and key chain, on every CPU. No network. Exit 1 when "
                     "anything fails.",
         arguments=[arg("bundle", metavar="BUNDLE", help="The bundle (tar) or an extracted bundle directory."),
                    _ROOT, _STATE,
                    arg("--hash-only", action="store_true",
                        help="Metadata and hashes only; skip the publisher signatures and chains."),
                    arg("--jobs", type=int, default=None, help="Worker processes (default: one per CPU).")])
def _snapshot_verify(ctx: Context) -> int:
    root = _root_key(ctx.args.root)
    files = snap.bundle_load(ctx.args.bundle)
    try:
        report = snap.bundle_verify(files, root_key=root, level=snap.HASH if ctx.args.hash_only else snap.FULL,
                                    state_dir=_state_dir(ctx), processes=ctx.args.jobs)
    except snap.SnapshotError as exc:
        return _refused(ctx, exc)
    if ctx.json:
        ctx.print_json(report.as_dict())
    elif report.ok:
        ctx.print(f"verified snapshot v{report.versions.get('timestamp')}: {report.actions} action versions "
                  f"({report.level}; {report.signatures_checked} publisher signatures and chains checked); "
                  f"timestamp expires {report.expires.get('timestamp')}")
    for failure in report.failures[:20]:
        ctx.note(f"NOT VERIFIED {failure.path}: {failure.code}: {failure.message}")
    return EXIT_OK if report.ok else EXIT_VERIFY_FAILED


def _refused(ctx: Context, exc: snap.SnapshotError) -> int:
    """A bundle-level refusal (expired, rollback, bad metadata) is a verification failure: exit 1."""
    ctx.note(f"action-registry: NOT VERIFIED: {exc.code}: {exc.message}")
    if ctx.json:
        ctx.print_json({"ok": False, "error": exc.as_dict()})
    return EXIT_VERIFY_FAILED


def _resolve(ctx: Context) -> snap.ResolvedAction | int:
    files = snap.bundle_load(ctx.args.bundle)
    try:
        return snap.action_resolve(files, ctx.args.name, ctx.args.version, root_key=_root_key(ctx.args.root),
                                   state_dir=_state_dir(ctx))
    except snap.SnapshotError as exc:
        if exc.code == "action_not_found":
            raise
        return _refused(ctx, exc)


_ACTION_ARGS = [arg("bundle", metavar="BUNDLE", help="The bundle (tar) or an extracted bundle directory."),
                arg("name", metavar="NAME"), arg("version", metavar="VERSION", nargs="?",
                                                 help="Defaults to the highest release in the bundle."),
                _ROOT, _STATE]


@command("snapshot fetch", help="Print an action from a bundle, verified offline (no network).",
         arguments=[*_ACTION_ARGS, arg("--envelope", action="store_true",
                                       help="Print the signed envelope {action, signature}.")])
def _snapshot_fetch(ctx: Context) -> int:
    resolved = _resolve(ctx)
    if isinstance(resolved, int):
        return resolved
    if ctx.args.envelope:
        ctx.print_json({"action": resolved.document, "signature": resolved.signature})
    elif ctx.json:
        ctx.print_json({"action": resolved.document, "signature": resolved.signature, "name": resolved.name,
                        "version": resolved.version, "verified": True})
    else:
        ctx.out.write(json.dumps(resolved.document, indent=2, ensure_ascii=False) + "\n")
        ctx.note(f"{resolved.name}@{resolved.version} verified from the bundle (signed by "
                 f"{resolved.signature['kid']})")
    return EXIT_OK


@command("snapshot verify-action", help="Verify one action in a bundle offline; exit 1 if it does not verify.",
         arguments=_ACTION_ARGS)
def _snapshot_verify_action(ctx: Context) -> int:
    resolved = _resolve(ctx)
    if isinstance(resolved, int):
        return resolved
    if ctx.json:
        ctx.print_json({"verified": True, "name": resolved.name, "version": resolved.version,
                        "kid": resolved.signature["kid"], "alg": resolved.signature["alg"]})
    else:
        ctx.print(f"verified {resolved.name}@{resolved.version} from the bundle, signed by "
                  f"{resolved.signature['kid']} ({resolved.signature['alg']})")
    return EXIT_OK


@command("snapshot download", help="Download a signed bundle from the registry (GET /v1/snapshot).",
         arguments=[arg("-o", "--output", required=True, metavar="FILE", help="Where to write the bundle."),
                    arg("--namespace", action="append", default=[], help="Namespace to include (repeat).")])
def _snapshot_download(ctx: Context) -> int:
    import httpx

    from .client import ENV_URL
    from .errors import NetworkError

    base = (ctx.args.registry or os.environ.get(ENV_URL) or "http://127.0.0.1:8000").rstrip("/")
    try:
        response = httpx.get(base + "/v1/snapshot", params={"namespace": ctx.args.namespace},
                             timeout=ctx.args.timeout or 120.0)
    except httpx.HTTPError as exc:
        raise NetworkError(f"{base}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise CliError(f"the registry answered {response.status_code}: {response.text[:300]}", code="download_failed")
    Path(ctx.args.output).write_bytes(response.content)
    ctx.note(f"wrote {ctx.args.output} ({len(response.content)} bytes, snapshot "
             f"v{response.headers.get('X-Snapshot-Version', '?')}); verify it with: action-registry snapshot verify "
             f"{ctx.args.output} --root ROOT_PUBLIC_KEY")
    return EXIT_OK
