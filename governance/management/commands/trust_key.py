"""manage.py trust_key add|revoke|list: operators manage the trust store's public keys."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from action_registry.errors import RegistryError
from governance import selectors, services
from governance.choices import KeyRole


class Command(BaseCommand):
    help = "Add, revoke or list trusted public keys (the registry never holds private keys)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="op", required=True)
        add = sub.add_parser("add", help="Trust a public key as a root.")
        add.add_argument("--kid", required=True)
        add.add_argument("--alg", default="Ed25519", choices=["Ed25519", "ES256"])
        add.add_argument("--public-key", required=True,
                         help="File with a PEM public key, or the base64url raw key itself.")
        add.add_argument("--root", action="store_true", help="Add as a root key (the default for operators).")
        add.add_argument("--scope", action="append", default=[], help="Namespace prefix (repeat); none = all.")
        add.add_argument("--description", default="")
        add.add_argument("--reason", default="")
        rev = sub.add_parser("revoke", help="Revoke a key: it signs nothing more; what it signed is flagged.")
        rev.add_argument("--kid", required=True)
        rev.add_argument("--alg", default=None, choices=["Ed25519", "ES256"])
        rev.add_argument("--reason", required=True)
        rev.add_argument("--compromised-since", default=None, help="ISO 8601 time the key was compromised.")
        sub.add_parser("list", help="List the trust store.")

    def handle(self, *args, **opts):
        try:
            getattr(self, f"_{opts['op']}")(opts)
        except RegistryError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None

    def _add(self, opts):
        source = opts["public_key"]
        path = Path(source)
        data = path.read_text() if path.exists() else source
        key = services.signing_key_add(kid=opts["kid"], alg=opts["alg"], public_key=data, actor="cli:trust_key",
                                       role=KeyRole.ROOT, scopes=opts["scope"], description=opts["description"],
                                       reason=opts["reason"])
        self.stdout.write(f"trusted {key.kid} ({key.alg}) {key.fingerprint}")

    def _revoke(self, opts):
        since = None
        if opts["compromised_since"]:
            since = parse_datetime(opts["compromised_since"])
            if since is None:
                raise CommandError("--compromised-since must be an ISO 8601 time")
        key = selectors.signing_key_get(kid=opts["kid"], alg=opts["alg"])
        services.signing_key_revoke(key=key, actor="cli:trust_key", reason=opts["reason"], compromised_since=since)
        self.stdout.write(f"revoked {key.kid} ({key.alg})")

    def _list(self, opts):
        for key in selectors.signing_key_list():
            scopes = ",".join(key.scopes) or "*"
            self.stdout.write(f"{key.kid}\t{key.alg}\t{key.status}\t{key.role}\t{scopes}\t{key.fingerprint}")
