"""manage.py review_namespace PREFIX --approve|--reject --reviewer USERNAME --reason TEXT."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from action_registry.errors import RegistryError
from governance import services
from governance.models import Namespace


class Command(BaseCommand):
    help = "Approve or reject a namespace claim as a member of the governance team."

    def add_arguments(self, parser):
        parser.add_argument("prefix")
        decision = parser.add_mutually_exclusive_group(required=True)
        decision.add_argument("--approve", action="store_true")
        decision.add_argument("--reject", action="store_true")
        parser.add_argument("--reviewer", required=True)
        parser.add_argument("--reason", required=True)

    def handle(self, *args, **opts):
        user = get_user_model().objects.filter(username=opts["reviewer"]).first()
        claim = Namespace.objects.filter(prefix=opts["prefix"]).first()
        if user is None or claim is None:
            raise CommandError("unknown reviewer or namespace")
        try:
            claim = services.namespace_review(claim=claim, reviewer=user, approve=opts["approve"],
                                              reason=opts["reason"])
        except RegistryError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        self.stdout.write(f"namespace {claim.prefix} is now {claim.status}")
