"""Admin of policies (each save is a new immutable version), channels and promotions, and agents' rings."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html_join

from core.exceptions import DomainError
from governance.models import Channel, ChannelPromotion, Policy, PolicyVersion, RingMembership
from governance.policies import policy_document_check
from governance.policy_services import channel_create, channel_promote, channel_withdraw, policy_save


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


class PolicyForm(forms.ModelForm):
    """Edits are new versions: the form holds the next version's content, never the old one's."""

    document = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "cols": 80}), initial="{}",
                               help_text='namespace_signing: {"namespace": "production", "root_kids": ["root-x"]}; '
                                         'deprecation: {"namespace": "*"}; version_pinning: '
                                         '{"ring": "stable", "channel": "verified", "namespace": "*"}')
    enabled = forms.BooleanField(required=False, initial=True)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 80}), help_text="Why this change.")

    class Meta:
        model = Policy
        fields = ["name", "kind"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.current if self.instance.pk else None
        if current is not None:
            self.fields["document"].initial = json.dumps(current.document, indent=2)
            self.fields["enabled"].initial = current.enabled
            self.fields["name"].disabled = self.fields["kind"].disabled = True

    def clean_document(self):
        try:
            return json.loads(self.cleaned_data["document"])
        except ValueError as exc:
            raise forms.ValidationError(f"not JSON: {exc}") from None

    def clean(self):
        data = super().clean()
        kind = data.get("kind") or self.instance.kind
        if kind and "document" in data:
            try:  # the same check the service makes, shown on the form instead of as an error page
                data["document"] = policy_document_check(kind=kind, document=data["document"])
            except DomainError as exc:
                self.add_error("document", exc.message)
        return data


class PolicyVersionInline(admin.TabularInline):
    model = PolicyVersion
    extra = 0
    can_delete = False
    fields = ("number", "enabled", "document", "digest", "author", "reason", "created_at")
    readonly_fields = fields
    ordering = ("-number",)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    form = PolicyForm
    list_display = ("name", "kind", "current_number", "current_enabled", "current_author", "created_at")
    list_filter = ("kind",)
    search_fields = ("name",)
    inlines = [PolicyVersionInline]

    @admin.display(description="version")
    def current_number(self, obj):
        return obj.current.number if obj.current_id else None

    @admin.display(description="enabled", boolean=True)
    def current_enabled(self, obj):
        return bool(obj.current_id and obj.current.enabled)

    @admin.display(description="last changed by")
    def current_author(self, obj):
        return obj.current.author if obj.current_id else ""

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            version = policy_save(name=obj.name, kind=obj.kind, document=data["document"], enabled=data["enabled"],
                                  author=_actor(request), reason=data["reason"])
        except DomainError as exc:
            messages.error(request, exc.message)
            return
        obj.pk, obj.current = version.policy.pk, version

    def has_delete_permission(self, request, obj=None):
        return False


class PromotionForm(forms.ModelForm):
    class Meta:
        model = ChannelPromotion
        fields = ["channel", "action_name", "version", "reason"]


@admin.register(ChannelPromotion)
class ChannelPromotionAdmin(admin.ModelAdmin):
    """Promote a published version into a channel (reviewers); withdraw with the action, history stays."""

    form = PromotionForm
    list_display = ("action_name", "version", "channel", "promoted_by", "promoted_at", "withdrawn_at")
    list_filter = ("channel", ("withdrawn_at", admin.EmptyFieldListFilter))
    search_fields = ("action_name",)
    actions = ["withdraw"]

    def save_model(self, request, obj, form, change):
        if change:
            return  # promotions are not edited; withdraw and promote again
        try:
            promoted = channel_promote(channel=obj.channel, action_name=obj.action_name, version=obj.version,
                                       actor=_actor(request), reason=obj.reason)
        except DomainError as exc:
            messages.error(request, exc.message)
            return
        obj.pk = promoted.pk

    @admin.action(description="Withdraw from the channel")
    def withdraw(self, request, queryset):
        for p in queryset.filter(withdrawn_at=None).select_related("channel"):
            channel_withdraw(channel=p.channel, action_name=p.action_name, version=p.version, actor=_actor(request),
                             reason="withdrawn in the admin")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "members")
    readonly_fields = ("live_versions",)

    @admin.display(description="versions")
    def members(self, obj):
        return obj.promotions.filter(withdrawn_at=None).count()

    @admin.display(description="versions in the channel")
    def live_versions(self, obj):
        rows = obj.promotions.filter(withdrawn_at=None).order_by("action_name", "version")
        return format_html_join("", "<div>{}@{} (by {})</div>", ((p.action_name, p.version, p.promoted_by)
                                                                 for p in rows)) or "none"

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["description"])
            return
        obj.pk = channel_create(name=obj.name, description=obj.description, actor=_actor(request)).pk

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RingMembership)
class RingMembershipAdmin(admin.ModelAdmin):
    list_display = ("agent", "ring", "assigned_by", "assigned_at")
    list_filter = ("ring",)
    search_fields = ("agent",)
    readonly_fields = ("assigned_by",)

    def save_model(self, request, obj, form, change):
        obj.assigned_by = _actor(request)
        super().save_model(request, obj, form, change)

