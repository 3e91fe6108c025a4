"""The three governance groups and their permissions (governance team, security reviewers, auditors)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    # Runs the registry day to day: namespaces, API keys, trusted roots; cannot approve delegations.
    "governance team": [
        "view_signingkey", "add_signingkey", "view_apikey", "add_apikey", "change_apikey", "view_namespace",
        "add_namespace", "change_namespace", "review_namespace", "view_revocation", "view_auditentry", "view_event",
    ],
    # Approve or reject delegation certificates, revoke keys.
    "security reviewers": [
        "view_signingkey", "review_signingkey", "revoke_signingkey", "view_apikey", "view_namespace",
        "view_revocation", "view_auditentry", "view_event",
    ],
    "read-only auditors": [
        "view_signingkey", "view_apikey", "view_namespace", "view_revocation", "view_auditentry", "view_event",
    ],
}


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(codename__in=codenames, content_type__app_label__in=["governance", "core"])
        group.permissions.set(perms)


def drop_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0002_key_hierarchy_namespaces_revocations"),
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, drop_groups)]
