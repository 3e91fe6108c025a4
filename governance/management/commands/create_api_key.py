"""manage.py create_api_key --name NAME --namespace PREFIX...: issue a publisher API key, shown once."""

from django.core.management.base import BaseCommand, CommandError

from action_registry.errors import RegistryError
from governance.services import api_key_create, api_key_revoke


class Command(BaseCommand):
    help = "Create an API key scoped to namespace prefixes (or revoke one with --revoke). The key is shown once."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Unique name of the key (who uses it).")
        parser.add_argument("--namespace", action="append", default=[], dest="namespaces",
                            help="Namespace prefix the key may publish under (repeat); '*' for all.")
        parser.add_argument("--revoke", action="store_true", help="Revoke the key with this name instead.")
        parser.add_argument("--reason", default="", help="Why (recorded in the audit log).")
        parser.add_argument("--quiet", action="store_true", help="Print only the key.")

    def handle(self, *args, **opts):
        try:
            if opts["revoke"]:
                api_key_revoke(name=opts["name"], actor="cli:create_api_key", reason=opts["reason"])
                self.stdout.write(f"revoked API key {opts['name']}")
                return
            issued = api_key_create(name=opts["name"], namespaces=opts["namespaces"], actor="cli:create_api_key")
        except RegistryError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        if opts["quiet"]:
            self.stdout.write(issued.token)
            return
        self.stdout.write(f"API key {issued.api_key.name} for {', '.join(issued.api_key.namespaces)}:")
        self.stdout.write(issued.token)
        self.stdout.write("Store it now: the registry keeps only its SHA-256 digest.")
