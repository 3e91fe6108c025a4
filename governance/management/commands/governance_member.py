"""manage.py governance_member USERNAME --group GROUP: put a person in a governance group (creating them)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from core.services import audit_record

GROUPS = ("governance team", "security reviewers", "read-only auditors")


class Command(BaseCommand):
    help = "Add a user to 'governance team', 'security reviewers' or 'read-only auditors' (created if missing)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--group", required=True, choices=GROUPS)
        parser.add_argument("--email", default="")

    def handle(self, *args, **opts):
        group = Group.objects.filter(name=opts["group"]).first()
        if group is None:
            raise CommandError(f"group {opts['group']!r} is missing: run manage.py migrate")
        user, created = get_user_model().objects.get_or_create(
            username=opts["username"], defaults={"email": opts["email"], "is_staff": True})
        if created:
            user.set_unusable_password()  # they log in after `manage.py changepassword`
            user.save()
        user.groups.add(group)
        audit_record(action="user.group_added", actor="cli:governance_member", target=user.get_username(),
                     data={"group": group.name})
        self.stdout.write(f"{user.get_username()} is in {group.name}" + (" (new user)" if created else ""))
