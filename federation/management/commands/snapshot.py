"""manage.py snapshot root|export: sign the snapshot root metadata offline, export a signed bundle."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from action_registry.errors import RegistryError
from federation import snapshots


class Command(BaseCommand):
    help = "Signed offline snapshots (TUF): create/re-sign root metadata, export a bundle."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="op", required=True)
        root = sub.add_parser("root", help="Create or re-sign root metadata with offline root key files "
                                           "(the online snapshot key is created if missing).")
        root.add_argument("--root-key", action="append", required=True, metavar="FILE",
                          help="An Ed25519 private key file (PEM), e.g. from `action-registry keygen`; repeat "
                               "for several root keys.")
        root.add_argument("--threshold", type=int, default=1, help="Root signatures needed (default 1).")
        root.add_argument("--expires-days", type=int, default=365, help="Root expiry (default 365 days).")
        export = sub.add_parser("export", help="Write a signed bundle (tar).")
        export.add_argument("--namespace", action="append", default=[], help="Namespace to include (repeat); "
                                                                              "default: all.")
        export.add_argument("--out", required=True, metavar="FILE", help="Where to write the bundle.")

    def handle(self, *args, **opts):
        try:
            if opts["op"] == "root":
                info = snapshots.root_metadata_sign(root_key_files=[Path(p) for p in opts["root_key"]],
                                                    threshold=opts["threshold"], expires_days=opts["expires_days"])
                self.stdout.write(f"root metadata v{info['version']} written to {info['path']} "
                                  f"(threshold {info['threshold']}); root public keys: {', '.join(info['root_keys'])}")
                return
            bundle = snapshots.snapshot_export(namespaces=opts["namespace"])
            Path(opts["out"]).write_bytes(bundle.data)
            self.stdout.write(f"snapshot v{bundle.version}: {bundle.actions} action versions, "
                              f"{len(bundle.data)} bytes -> {opts['out']}")
        except RegistryError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
