"""`action-registry`: the publisher's command line (keygen, sign, publish, fetch, verify, search, keys).

Exit codes: 0 ok, 1 verification failure, 2 usage, input or network error; failures print one line on
stderr. ``--json`` prints machine-readable results on stdout.

Adding a command: write ``def _cmd(ctx: Context) -> int`` and decorate it with
``@command("group name", help=..., arguments=[arg(...), ...])``. Groups (``keys``/``key``, ``log``,
``snapshot``) are created on first use; a command module outside this file registers itself the same
way and is listed in ``COMMAND_MODULES`` so it is imported before the parser is built.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__, crypto
from .canonical import parse_json
from .document import parse_envelope, sign_document
from .errors import RegistryError

if TYPE_CHECKING:  # the client (httpx) is imported on first use: keygen and sign stay quick
    from .client import PinnedKey, RegistryClient

ENV_URL = "ACTION_REGISTRY_URL"  # as in action_registry.client
ENV_API_KEY = "ACTION_REGISTRY_API_KEY"

EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_ERROR = 2

PROG = "action-registry"
# Modules that register more commands with @command (imported before the parser is built).
COMMAND_MODULES: tuple[str, ...] = ("action_registry.snapshot_cli", "action_registry.key_cli",
                                     "action_registry.log_cli")
# Command groups: name -> (help, aliases).
GROUPS: dict[str, tuple[str, list[str]]] = {
    "keys": ("Inspect and manage keys of the trust store.", ["key"]),
    "log": ("Watch the registry's transparency log.", []),
    "snapshot": ("Signed snapshots of the registry.", []),
}
_GROUP_ALIASES = {alias: name for name, (_, aliases) in GROUPS.items() for alias in aliases}


class CliError(RegistryError):
    """A usage or input problem found by the CLI itself."""

    code = "usage"


# --- command registry ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Arg:
    flags: tuple[str, ...]
    options: dict[str, Any]


def arg(*flags: str, **options: Any) -> Arg:
    """An argparse argument, declared next to its command."""
    return Arg(flags, options)


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    help: str
    func: Callable[[Context], int]
    arguments: tuple[Arg, ...] = ()
    description: str | None = None


COMMANDS: dict[tuple[str, ...], Command] = {}


def command(path: str, *, help: str, arguments: Sequence[Arg] = (), description: str | None = None
            ) -> Callable[[Callable[[Context], int]], Callable[[Context], int]]:
    """Register ``func`` as ``action-registry <path>`` (``"verify"`` or ``"keys show"``)."""
    words = path.split()
    words[0] = _GROUP_ALIASES.get(words[0], words[0])
    key = tuple(words)

    def decorator(func: Callable[[Context], int]) -> Callable[[Context], int]:
        if key in COMMANDS:
            raise ValueError(f"command {' '.join(key)!r} is registered twice")
        COMMANDS[key] = Command(key, help, func, tuple(arguments), description)
        return func
    return decorator


# --- context: client, output -----------------------------------------------------------------------

@dataclass
class Context:
    args: argparse.Namespace
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    _client: RegistryClient | None = None

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def client(self) -> RegistryClient:
        if self._client is None:
            from .client import RegistryClient, RetryPolicy

            retries = getattr(self.args, "retries", None)
            self._client = RegistryClient(getattr(self.args, "registry", None), getattr(self.args, "api_key", None),
                                          timeout=getattr(self.args, "timeout", None) or 10.0,
                                          retry=RetryPolicy(max_retries=retries) if retries is not None else None)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def print(self, text: str = "") -> None:
        print(text, file=self.out)

    def note(self, text: str) -> None:
        """Human commentary: on stderr, so stdout stays pipeable."""
        print(text, file=self.err)

    def print_json(self, value: Any) -> None:
        print(json.dumps(value, indent=2, ensure_ascii=False, default=str), file=self.out)


def _read_json_file(path: str) -> tuple[bytes, Any]:
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", code="file_error") from None
    return data, parse_json(data)


# --- commands --------------------------------------------------------------------------------------

@command("keygen", help="Generate a signing key pair (private key file 0600, public key printed).",
         description="Writes the private key (PKCS#8 PEM, mode 0600) to --out and the public key (PEM) to "
                     "--out.pub, and prints the public key as base64url. Give the .pub file to the registry's "
                     "operators: `manage.py trust_key add --kid KID --alg ALG --public-key FILE.pub`.",
         arguments=[arg("--alg", choices=crypto.ALGORITHMS, default=crypto.ED25519, help="Key algorithm."),
                    arg("--out", required=True, metavar="FILE", help="Private key file to create (never "
                                                                     "overwritten).")])
def _keygen(ctx: Context) -> int:
    out = Path(ctx.args.out)
    pub = out.with_name(out.name + ".pub")
    if pub.exists():
        raise CliError(f"{pub} exists; refusing to overwrite", code="file_exists")
    key = crypto.generate_private_key(ctx.args.alg)
    try:
        crypto.write_private_key(out, key)
    except FileExistsError:
        raise CliError(f"{out} exists; refusing to overwrite a key", code="file_exists",
                       suggestion="Choose another --out path.") from None
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror}", code="file_error") from None
    pub.write_bytes(crypto.public_key_pem(key))
    public_b64 = crypto.public_key_b64(key)
    info = {"alg": ctx.args.alg, "public_key": public_b64,
            "fingerprint": crypto.key_fingerprint(ctx.args.alg, public_b64),
            "private_key_file": str(out), "public_key_file": str(pub)}
    if ctx.json:
        ctx.print_json(info)
    else:
        ctx.print(public_b64)
        ctx.note(f"wrote {out} (private, 0600) and {pub}; fingerprint {info['fingerprint']}")
        ctx.note(f"trust it: manage.py trust_key add --kid <KID> --alg {ctx.args.alg} --public-key {pub}")
    return EXIT_OK


@command("sign", help="Sign an action document; writes the envelope to publish.",
         description="Validates the document, computes its RFC 8785 canonical bytes and signs them.",
         arguments=[arg("document", metavar="DOCUMENT.json", help="The action document ('-' for stdin)."),
                    arg("--key", required=True, metavar="FILE", help="Private key file (from keygen)."),
                    arg("--kid", required=True, help="Key id the registry knows the public key by."),
                    arg("-o", "--output", metavar="ENVELOPE.json", help="Write here instead of stdout.")])
def _sign(ctx: Context) -> int:
    _, doc = _read_json_file(ctx.args.document)
    try:
        key = crypto.load_private_key(Path(ctx.args.key).read_bytes())
    except OSError as exc:
        raise CliError(f"cannot read {ctx.args.key}: {exc.strerror}", code="file_error") from None
    envelope = sign_document(doc, key, ctx.args.kid)
    parsed = parse_envelope(envelope)
    text = json.dumps(envelope, indent=2, ensure_ascii=False) + "\n"
    if ctx.args.output:
        Path(ctx.args.output).write_text(text, encoding="utf-8")
    else:
        ctx.out.write(text)
    summary = {"name": parsed.name, "version": parsed.version, "content_hash": parsed.content_hash,
               "kid": ctx.args.kid, "alg": parsed.signature.alg, "output": ctx.args.output}
    if ctx.json and ctx.args.output:
        ctx.print_json(summary)
    else:
        ctx.note(f"signed {parsed.name}@{parsed.version} {parsed.content_hash} with {ctx.args.kid} "
                 f"({parsed.signature.alg})")
    return EXIT_OK


@command("publish", help="Publish a signed envelope (needs an API key).",
         arguments=[arg("envelope", metavar="ENVELOPE.json", help="The envelope `sign` wrote ('-' for stdin).")])
def _publish(ctx: Context) -> int:
    data, body = _read_json_file(ctx.args.envelope)
    parse_envelope(body)  # refuse locally what the registry would refuse
    result = ctx.client().publish(data)
    record = result.record
    if ctx.json:
        ctx.print_json({**record.raw, "created": result.created})
    else:
        state = "published" if result.created else "already published (identical bytes)"
        ctx.print(f"{state}: {record.name}@{record.version} {record.content_hash}")
    return EXIT_OK


@command("fetch", help="Fetch an action version (the latest when VERSION is omitted).",
         arguments=[arg("name", metavar="NAME"), arg("version", metavar="VERSION", nargs="?"),
                    arg("--envelope", action="store_true", help="Print the signed envelope {action, signature}.")])
def _fetch(ctx: Context) -> int:
    client = ctx.client()
    record = (client.get_version(ctx.args.name, ctx.args.version) if ctx.args.version
              else client.get_latest(ctx.args.name))
    if ctx.args.envelope:
        ctx.print_json(record.envelope())
    elif ctx.json:
        ctx.print_json(record.raw)
    else:
        ctx.print_json(record.action)
        ctx.note(f"{record.name}@{record.version} {record.content_hash} signed by {record.signature.kid}"
                 f"{' (latest)' if record.latest else ''}; check it with: {PROG} verify {record.name} "
                 f"{record.version}")
    if record.deprecation is not None:
        _note_deprecated(ctx, record.name, record.version, record.deprecation.reason, record.deprecation.successor)
    return EXIT_OK


def _note_deprecated(ctx: Context, name: str, version: str, reason: str | None, successor: str | None) -> None:
    then = f"; successor: {PROG} fetch {name} {successor}" if successor else ""
    ctx.note(f"{PROG}: warning: {name}@{version} is deprecated: {_one_line(reason or 'no reason given')}{then}")


@command("verify", help="Verify a version locally: recompute its hash, check its signature with the key.",
         description="Fetches the record and the signing key and verifies on this machine, trusting nothing "
                     "the registry says about validity. Exit 1 when verification fails.",
         arguments=[arg("name", metavar="NAME"), arg("version", metavar="VERSION", nargs="?",
                                                     help="Defaults to the latest version."),
                    arg("--public-key", metavar="FILE",
                        help="Verify against this public key (PEM or base64url) instead of the registry's."),
                    arg("--alg", choices=crypto.ALGORITHMS, default=None,
                        help="Algorithm of --public-key (default: from the signature)."),
                    arg("--no-log", action="store_true",
                        help="Skip the transparency-log inclusion and consistency check."),
                    arg("--log-key", metavar="VKEY", help="The log's note verifier key, pinned out of band.")])
def _verify(ctx: Context) -> int:
    pinned = None
    if ctx.args.public_key:
        try:
            text = Path(ctx.args.public_key).read_text()
        except OSError as exc:
            raise CliError(f"cannot read {ctx.args.public_key}: {exc.strerror}", code="file_error") from None
        pinned = _pinned_key(text, ctx.args.alg)
    result = ctx.client().verify(ctx.args.name, ctx.args.version, pinned=pinned)
    log_failure = None
    if result.verified and not ctx.args.no_log:
        log_failure = _log_inclusion(ctx, result)
        if log_failure is not None:
            result = replace(result, verified=False, reason=log_failure.code, message=log_failure.message)
    if ctx.json:
        ctx.print_json(result.as_dict())
    elif result.verified:
        ctx.print(f"verified {result.name}@{result.version} {result.content_hash} signed by {result.kid} "
                  f"({result.alg}, key {result.key_status})")
    else:
        claim = " (the registry claims it verifies)" if result.server_disagrees else ""
        ctx.note(f"{PROG}: NOT VERIFIED {result.name}@{result.version}: {result.reason}: "
                 f"{_one_line(result.message)}{claim}")
    if result.deprecation and not ctx.json:
        _note_deprecated(ctx, result.name, result.version, result.deprecation.get("reason"),
                         result.deprecation.get("successor"))
    if result.verified and result.server_disagrees:
        ctx.note(f"{PROG}: note: the registry's own check says it does not verify ({result.key_status})")
    return EXIT_OK if result.verified else EXIT_VERIFY_FAILED


def _log_inclusion(ctx: Context, result: Any) -> RegistryError | None:
    """The publish of this version is in the log, and the log is consistent with every checkpoint this
    machine has seen: a registry that forks or rewrites its history is caught here."""
    from .logclient import inclusion_check_text, verification_log_check

    inc, failure = verification_log_check(getattr(ctx.args, "registry", None), name=result.name,
                                          version=result.version, content_hash=result.content_hash,
                                          verifier_key=ctx.args.log_key)
    if inc is not None:
        result.checks.append(inclusion_check_text(inc))
    return failure


def _pinned_key(text: str, alg: str | None) -> PinnedKey:
    """The key from PEM or base64url text; without --alg, the algorithm the key turns out to be."""
    from .client import PinnedKey

    for candidate in ([alg] if alg else crypto.ALGORITHMS):
        try:
            return PinnedKey.from_text(candidate, text)
        except RegistryError:
            continue
    raise CliError("--public-key is not an Ed25519 or ES256 public key (PEM or base64url)", code="malformed_key")


@command("search", help="Search actions by words of their name or description.",
         arguments=[arg("query", metavar="Q", nargs="?", help="Words or a partial name (omit to list)."),
                    arg("--namespace", help="Only names under this dotted prefix."),
                    arg("--kid", help="Only actions signed by this key id."),
                    arg("--limit", type=int, default=20, help="Page size (1-200)."),
                    arg("--offset", type=int, default=0, help="Index of the first result.")])
def _search(ctx: Context) -> int:
    a = ctx.args
    page = ctx.client().search(a.query, kid=a.kid, namespace=a.namespace, offset=a.offset, limit=a.limit)
    if ctx.json:
        ctx.print_json({"items": [i.raw for i in page.items], "total": page.total, "offset": page.offset,
                        "limit": page.limit})
        return EXIT_OK
    for item in page.items:
        description = " ".join(item.description.split())
        ctx.print(f"{item.name}\t{item.latest_version}\t{item.kid}\t{description[:80]}")
    ctx.note(f"{len(page.items)} of {page.total} (offset {page.offset})")
    return EXIT_OK


@command("keys list", help="List the registry's public keys.",
         arguments=[arg("--status", choices=["pending", "active", "rotated", "revoked", "rejected"])])
def _keys_list(ctx: Context) -> int:
    keys = ctx.client().list_keys(ctx.args.status)
    if ctx.json:
        ctx.print_json({"items": [k.raw for k in keys.items], "total": keys.total})
        return EXIT_OK
    for key in keys.items:
        ctx.print(f"{key.kid}\t{key.alg}\t{key.status}\t{key.role}\t{','.join(key.scopes) or '*'}\t{key.fingerprint}")
    return EXIT_OK


@command("keys show", help="Show one public key.",
         arguments=[arg("kid", metavar="KID"), arg("--alg", choices=crypto.ALGORITHMS)])
def _keys_show(ctx: Context) -> int:
    key = ctx.client().get_key(ctx.args.kid, ctx.args.alg)
    if ctx.json:
        ctx.print_json(key.raw)
        return EXIT_OK
    for label, value in (("kid", key.kid), ("alg", key.alg), ("status", key.status), ("role", key.role),
                         ("parent", key.parent_kid or "-"), ("scopes", ", ".join(key.scopes) or "*"),
                         ("fingerprint", key.fingerprint), ("public_key", key.public_key)):
        ctx.print(f"{label:12} {value}")
    return EXIT_OK


# --- parser and entry point ------------------------------------------------------------------------

def _common_options(defaults: bool) -> argparse.ArgumentParser:
    """Options accepted before or after the command name (only the top level sets defaults)."""
    d = (lambda value: value) if defaults else (lambda value: argparse.SUPPRESS)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--registry", metavar="URL", default=d(None),
                        help=f"Registry base URL (default: ${ENV_URL} or http://127.0.0.1:8000).")
    common.add_argument("--api-key", metavar="KEY", default=d(None),
                        help=f"API key for publishing (default: ${ENV_API_KEY}; prefer the variable).")
    common.add_argument("--json", action="store_true", default=d(False), help="Machine-readable output.")
    common.add_argument("--timeout", type=float, metavar="SECONDS", default=d(None),
                        help="Per-request timeout (default 10).")
    common.add_argument("--retries", type=int, metavar="N", default=d(None),
                        help="Retries on 5xx, timeouts and connection errors (default 3).")
    return common


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    parser = _Parser(prog=PROG, parents=[_common_options(True)],
                     description="Sign, publish, fetch and verify actions in an Action Registry.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = _common_options(False)
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    groups: dict[str, argparse._SubParsersAction] = {}
    for path, cmd in COMMANDS.items():
        subparsers = top
        if len(path) > 1:
            group = path[0]
            if group not in groups:
                help_text, aliases = GROUPS.get(group, (f"{group} commands", []))
                group_parser = top.add_parser(group, help=help_text, aliases=aliases, description=help_text)
                groups[group] = group_parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND",
                                                            required=True, parser_class=_Parser)
            subparsers = groups[group]
        sub = subparsers.add_parser(path[-1], help=cmd.help, description=cmd.description or cmd.help,
                                    parents=[common])
        for a in cmd.arguments:
            sub.add_argument(*a.flags, **a.options)
        sub.set_defaults(_command=cmd)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    ctx = Context(args, out=out or sys.stdout, err=err or sys.stderr)
    try:
        return args._command.func(ctx)
    except RegistryError as exc:
        hint = f" ({_one_line(exc.suggestion)})" if exc.suggestion else ""
        ctx.note(f"{PROG}: error: {exc.code}: {_one_line(exc.message)}{hint}")
        if ctx.json:
            ctx.print_json({"error": exc.as_dict()})
        return EXIT_ERROR
    except KeyboardInterrupt:
        ctx.note(f"{PROG}: interrupted")
        return EXIT_ERROR
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
