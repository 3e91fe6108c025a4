"""manage.py seed_demo: trust a demo key and publish the real BFCL function schemas, signed by it."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from registry import demo


class Command(BaseCommand):
    help = "Seed the catalog with real tool schemas (../shared/testdata/functions), signed by a local demo key."

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=str(Path(settings.VAR_DIR) / "demo"),
                            help="Where the demo private key and API key live (0600 files).")
        parser.add_argument("--limit", type=int, default=None, help="Publish only the first N documents.")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when the catalog has actions.")

    def handle(self, *args, **opts):
        from registry.models import ActionVersion

        if opts["if_empty"] and ActionVersion.objects.exists():
            self.stdout.write("catalog already seeded")
            return
        try:
            out = demo.seed(directory=Path(opts["dir"]), limit=opts["limit"])
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"demo catalog: {out['published']} published, {out['existing']} already there")
        self.stdout.write(f"demo signing key (kid {demo.DEMO_KID}): {out['private_key_file']}")
        self.stdout.write(f"demo API key: {out['api_key_file']}")
