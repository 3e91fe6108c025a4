"""manage.py review_key KID --approve|--reject --reviewer USERNAME --reason TEXT: review a delegation."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from action_registry.errors import RegistryError
from governance import selectors, services


class Command(BaseCommand):
    help = "Approve or reject a pending delegation certificate as a security reviewer (two-person rule applies)."

    def add_arguments(self, parser):
        parser.add_argument("kid")
        parser.add_argument("--alg", default=None, choices=["Ed25519", "ES256"])
        decision = parser.add_mutually_exclusive_group(required=True)
        decision.add_argument("--approve", action="store_true")
        decision.add_argument("--reject", action="store_true")
        parser.add_argument("--reviewer", required=True, help="Username of a member of 'security reviewers'.")
        parser.add_argument("--reason", required=True)

    def handle(self, *args, **opts):
        user = get_user_model().objects.filter(username=opts["reviewer"]).first()
        if user is None:
            raise CommandError(f"no user {opts['reviewer']!r}")
        try:
            key = selectors.signing_key_get(kid=opts["kid"], alg=opts["alg"])
            key = services.delegation_review(key=key, reviewer=user, approve=opts["approve"], reason=opts["reason"])
        except RegistryError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        self.stdout.write(f"{key.kid} ({key.alg}) is now {key.status}")
