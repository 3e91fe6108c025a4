"""Admin of the registry's lifecycle: deprecations (through the services) and compatibility policies."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from action_registry.errors import RegistryError
from core.admin import ReadOnlyAdmin
from registry import lifecycle_services
from registry.models import CompatibilityPolicy, Deprecation, DeprecationEntry


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


class DeprecationForm(forms.ModelForm):
    class Meta:
        model = Deprecation
        fields = ["version", "reason", "successor"]

    def clean(self):
        data = super().clean()
        version, successor = data.get("version"), data.get("successor")
        if version is not None and successor is not None:
            try:
                lifecycle_services.successor_check(version=version, successor=successor)
            except RegistryError as exc:
                raise ValidationError({"successor": exc.message}) from None
        return data


@admin.register(Deprecation)
class DeprecationAdmin(admin.ModelAdmin):
    """The governance team deprecates here; lifting is the "Lift" action. Both go through the services."""

    form = DeprecationForm
    list_display = ("version", "successor", "reason", "deprecated_by", "deprecated_at")
    list_select_related = ("version__action", "successor__action")
    search_fields = ("version__action__name", "version__version", "reason")
    raw_id_fields = ("version", "successor")
    date_hierarchy = "deprecated_at"
    actions = ["lift"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        dep = lifecycle_services.version_deprecate(
            name=obj.version.action.name, version=obj.version.version, reason=obj.reason,
            successor=obj.successor.version if obj.successor_id else None, user=request.user)
        obj.pk, obj.deprecated_at, obj.deprecated_by = dep.pk, dep.deprecated_at, dep.deprecated_by

    @admin.action(description="Lift the selected deprecations", permissions=["add"])
    def lift(self, request, queryset):
        for dep in queryset.select_related("version__action"):
            lifecycle_services.version_undeprecate(name=dep.version.action.name, version=dep.version.version,
                                                   reason=f"lifted in the admin by {_actor(request)}",
                                                   user=request.user)
        self.message_user(request, f"Lifted {queryset.count()} deprecation(s).", messages.SUCCESS)


@admin.register(DeprecationEntry)
class DeprecationEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "version", "action", "successor", "actor", "reason")
    list_filter = ("action",)
    list_select_related = ("version__action", "successor__action")
    search_fields = ("version__action__name", "actor", "reason")


@admin.register(CompatibilityPolicy)
class CompatibilityPolicyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "mode", "refuse_undeclared_breaks", "updated_by", "updated_at")
    list_filter = ("mode",)
    search_fields = ("prefix",)
    fields = ("prefix", "mode", "refuse_undeclared_breaks")

    def get_readonly_fields(self, request, obj=None):
        return ("prefix",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        saved = lifecycle_services.compatibility_policy_set(
            prefix=obj.prefix, mode=obj.mode, refuse_undeclared_breaks=obj.refuse_undeclared_breaks,
            actor=_actor(request), user=request.user)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        lifecycle_services.compatibility_policy_delete(prefix=obj.prefix, actor=_actor(request), user=request.user)

    def delete_queryset(self, request, queryset):
        for policy in queryset:
            self.delete_model(request, policy)
