"""manage.py mirror_sync UPSTREAM: pull one upstream now (what the periodic task does on schedule)."""

import json

from django.core.management.base import BaseCommand, CommandError

from action_registry.errors import RegistryError
from federation import selectors, services


class Command(BaseCommand):
    help = "Mirror what changed on an upstream since its cursor; refused records are quarantined."

    def add_arguments(self, parser):
        parser.add_argument("upstream", help="The upstream's name (Federation > Upstreams in the admin).")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **opts):
        try:
            upstream = selectors.upstream_get(name=opts["upstream"])
            report = services.mirror_sync(upstream=upstream, actor="cli")
        except RegistryError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        if opts["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
            return
        self.stdout.write(f"{upstream.name} ({report.mode}): {len(report.stored)} stored, {report.present} already "
                          f"present, {len(report.quarantined)} quarantined, {len(report.deferred)} deferred; "
                          f"cursor {report.cursor or '-'}")
        for finding in report.quarantined:
            self.stderr.write(f"quarantined {finding['name']}@{finding['version']}: {finding['reason']}: "
                              f"{finding['message']}")
