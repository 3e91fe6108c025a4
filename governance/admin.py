"""The governance teams' and security reviewers' admin: keys and their tree, delegation approvals,
namespaces, API keys and revocations. Every write goes through governance.services."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from action_registry.errors import RegistryError
from core.admin import ReadOnlyAdmin
from governance import selectors, services
from governance.choices import ClaimStatus, KeyRole, KeyStatus
from governance.models import ApiKey, DelegationRequest, Namespace, Revocation, SigningKey


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


def _chain_html(key: SigningKey) -> str:
    chain = selectors.key_chain(key=key)
    return format_html_join(" → ", "<code>{}</code> <small>({}, {})</small>",
                            ((k.kid, k.role, k.status) for k in chain))


class ReasonFormMixin:
    """Admin actions that change trust need a reason: ask for it on an intermediate page."""

    def _with_reason(self, request, queryset, *, title: str, action: str, apply):
        if "confirm" in request.POST:
            reason = request.POST.get("reason", "").strip()
            if not reason:
                self.message_user(request, "A reason is required.", messages.ERROR)
            else:
                done = 0
                for obj in queryset:
                    try:
                        apply(obj, reason)
                        done += 1
                    except RegistryError as exc:
                        self.message_user(request, f"{obj}: {exc.code}: {exc.message}", messages.ERROR)
                if done:
                    self.message_user(request, f"{title}: {done} done.", messages.SUCCESS)
                return None
        context = {**self.admin_site.each_context(request), "title": title, "objects": queryset, "action": action,
                   "opts": self.model._meta, "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "admin/governance/reason_form.html", context)


@admin.register(SigningKey)
class SigningKeyAdmin(ReasonFormMixin, admin.ModelAdmin):
    list_display = ("kid", "alg", "role", "status_badge", "parent", "scope_list", "not_after", "created_at")
    list_filter = ("status", "role", "alg")
    search_fields = ("kid", "fingerprint", "description")
    actions = ["revoke_keys"]
    change_list_template = "admin/governance/signingkey/change_list.html"
    fields = ("kid", "alg", "public_key", "scopes", "description")
    readonly_fields = ("fingerprint", "role", "status", "parent", "chain", "certificate_pretty", "submitted_by",
                       "reviewed_by", "reviewed_at", "review_reason", "rotated_at", "revoked_at",
                       "revocation_reason", "compromised_since", "created_by", "created_at")

    def get_fields(self, request, obj=None):
        if obj is None:  # adding a root key
            return ("kid", "alg", "public_key", "scopes", "description")
        return ("kid", "alg", "public_key") + self.readonly_fields + ("scopes", "description")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("kid", "alg", "public_key", "scopes", "description") + self.readonly_fields

    @admin.display(description="status")
    def status_badge(self, obj):
        colour = {"active": "#116329", "rotated": "#7d4e00", "revoked": "#a40e26", "pending": "#0550ae"}.get(
            obj.status, "#57606a")
        return format_html('<strong style="color:{}">{}</strong>', colour, obj.status)

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes) or "(all)"

    @admin.display(description="chain to root")
    def chain(self, obj):
        return _chain_html(obj)

    @admin.display(description="certificate")
    def certificate_pretty(self, obj):
        if not obj.certificate:
            return "— (root key, trusted by an operator)"
        return format_html("<pre>{}</pre>", json.dumps({"certificate": obj.certificate,
                                                        "signature": obj.certificate_signature}, indent=2))

    @admin.display(description="submitted by")
    def submitted_by(self, obj):
        if obj.submitted_by_user_id:
            return f"user {obj.submitted_by_user}"
        if obj.submitted_by_api_key_id:
            owner = obj.submitted_by_api_key.owner
            return f"API key {obj.submitted_by_api_key.name}" + (f" (owner {owner})" if owner else "")
        return obj.created_by

    def has_add_permission(self, request):
        # Root keys enter the trust store only through an operator or a security reviewer.
        return request.user.has_perm("governance.review_signingkey")

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # keys are history: revoke, never delete

    def save_model(self, request, obj, form, change):
        if change:
            raise PermissionDenied
        services.signing_key_add(kid=obj.kid, alg=obj.alg, public_key=obj.public_key, actor=_actor(request),
                                 role=KeyRole.ROOT, scopes=obj.scopes or [], description=obj.description,
                                 reason="added as a root key in the admin")
        obj.pk = SigningKey.objects.get(kid=obj.kid, alg=obj.alg).pk

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("governance.revoke_signingkey"):
            actions.pop("revoke_keys", None)
        return actions

    @admin.action(description="Revoke selected keys (flags everything they and their children signed)")
    def revoke_keys(self, request, queryset):
        return self._with_reason(request, queryset, title="Revoke keys", action="revoke_keys",
                                 apply=lambda key, reason: services.key_revoke_by_reviewer(
                                     key=key, reviewer=request.user, reason=reason))

    def get_urls(self):
        return [path("tree/", self.admin_site.admin_view(self.tree_view), name="governance_signingkey_tree"),
                *super().get_urls()]

    def tree_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        keys = list(SigningKey.objects.order_by("kid"))
        children: dict[int | None, list[SigningKey]] = {}
        for key in keys:
            children.setdefault(key.parent_id, []).append(key)

        def build(parent_id):
            return [{"key": k, "children": build(k.pk)} for k in children.get(parent_id, [])]

        context = {**self.admin_site.each_context(request), "title": "Key hierarchy", "tree": build(None),
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/governance/signingkey/tree.html", context)


@admin.register(DelegationRequest)
class DelegationRequestAdmin(ReasonFormMixin, admin.ModelAdmin):
    """The approval queue: the certificate, the chain it would join, and who submitted it."""

    list_display = ("kid", "alg", "role", "parent", "scope_list", "not_after", "submitted", "created_at")
    actions = ["approve", "reject"]
    readonly_fields = ("kid", "alg", "role", "public_key", "fingerprint", "parent", "would_join", "scopes",
                       "not_before", "not_after", "certificate_pretty", "submitted", "two_person_rule", "created_at")
    fields = readonly_fields
    change_form_template = "admin/governance/delegationrequest/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=KeyStatus.PENDING).select_related(
            "parent", "submitted_by_user", "submitted_by_api_key__owner")

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    @admin.display(description="chain it would join")
    def would_join(self, obj):
        if not obj.parent_id:
            return "—"
        # The request itself heads the chain, so the reviewer reads the whole path it would verify through.
        return format_html("<code>{}</code> <small>(this request, {})</small> → {}", obj.kid, obj.role,
                           _chain_html(obj.parent))

    @admin.display(description="certificate")
    def certificate_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps({"certificate": obj.certificate,
                                                        "signature": obj.certificate_signature}, indent=2))

    @admin.display(description="submitted by")
    def submitted(self, obj):
        return SigningKeyAdmin.submitted_by(self, obj)

    @admin.display(description="two-person rule")
    def two_person_rule(self, obj):
        who = obj.submitted_by_user or (obj.submitted_by_api_key.owner if obj.submitted_by_api_key_id else None)
        if who is None:
            return "Submitted by an API key without an owner: any security reviewer may review it."
        return format_html("<strong>{}</strong> submitted this request and cannot approve or reject it.", who)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("governance.review_signingkey")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("governance.review_signingkey"):
            return {}
        return actions

    def _review(self, request, queryset, approve: bool):
        if approve and queryset.count() > 1 and queryset.filter(role__in=[KeyRole.ROOT, KeyRole.ORG]).exists():
            self.message_user(request, "Org keys are approved one at a time: open each request.", messages.ERROR)
            return None
        verb = "Approve" if approve else "Reject"
        return self._with_reason(request, queryset, title=f"{verb} delegations", action="approve" if approve
                                 else "reject",
                                 apply=lambda key, reason: services.delegation_review(
                                     key=key, reviewer=request.user, approve=approve, reason=reason))

    @admin.action(description="Approve selected delegations (signing keys only in bulk)")
    def approve(self, request, queryset):
        return self._review(request, queryset, True)

    @admin.action(description="Reject selected delegations")
    def reject(self, request, queryset):
        return self._review(request, queryset, False)

    def get_urls(self):
        return [path("<int:pk>/review/", self.admin_site.admin_view(self.review_view),
                     name="governance_delegationrequest_review"), *super().get_urls()]

    def review_view(self, request, pk):
        """Approve or reject one request from its page (the path for org keys)."""
        if request.method != "POST" or not request.user.has_perm("governance.review_signingkey"):
            raise PermissionDenied
        key = get_object_or_404(SigningKey, pk=pk, status=KeyStatus.PENDING)
        approve = request.POST.get("decision") == "approve"
        try:
            services.delegation_review(key=key, reviewer=request.user, approve=approve,
                                       reason=request.POST.get("reason", ""))
        except RegistryError as exc:
            self.message_user(request, f"{exc.code}: {exc.message}", messages.ERROR)
            return redirect(reverse("admin:governance_delegationrequest_change", args=[pk]))
        self.message_user(request, f"{key.kid} {'approved' if approve else 'rejected'}.", messages.SUCCESS)
        return redirect(reverse("admin:governance_delegationrequest_changelist"))


@admin.register(Namespace)
class NamespaceAdmin(ReasonFormMixin, admin.ModelAdmin):
    list_display = ("prefix", "status", "owner_list", "claimed_by", "reviewed_by", "created_at")
    list_filter = ("status",)
    search_fields = ("prefix",)
    actions = ["approve", "reject"]
    readonly_fields = ("status", "claimed_by_user", "claimed_by_api_key", "reviewed_by", "reviewed_at",
                       "review_reason", "created_at")
    filter_horizontal = ("owners",)

    @admin.display(description="owners")
    def owner_list(self, obj):
        return ", ".join(sorted(k.kid for k in obj.owners.all()))

    @admin.display(description="claimed by")
    def claimed_by(self, obj):
        return obj.claimed_by_user or obj.claimed_by_api_key or "—"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("owners").select_related(
            "claimed_by_user", "claimed_by_api_key", "reviewed_by")

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        owners = [k.kid for k in form.cleaned_data["owners"]]
        claim = services.namespace_claim(prefix=obj.prefix, owner_kids=owners, actor=_actor(request),
                                         user=request.user, description=obj.description)
        obj.pk = claim.pk

    def save_related(self, request, form, formsets, change):
        pass  # the service set the owners

    def _review(self, request, queryset, approve):
        queryset = queryset.filter(status=ClaimStatus.PENDING)
        return self._with_reason(request, queryset, title=("Approve" if approve else "Reject") + " claims",
                                 action="approve" if approve else "reject",
                                 apply=lambda claim, reason: services.namespace_review(
                                     claim=claim, reviewer=request.user, approve=approve, reason=reason))

    @admin.action(description="Approve selected namespace claims", permissions=["review"])
    def approve(self, request, queryset):
        return self._review(request, queryset, True)

    @admin.action(description="Reject selected namespace claims", permissions=["review"])
    def reject(self, request, queryset):
        return self._review(request, queryset, False)

    def has_review_permission(self, request):
        return request.user.has_perm("governance.review_namespace")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "namespaces", "owner", "is_active", "last_used_at", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "prefix")
    fields = ("name", "namespaces", "owner")
    readonly_fields = ("prefix", "is_active", "last_used_at", "revoked_at", "created_by", "created_at")
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else self.fields + self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("name", "namespaces") + self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            services.api_key_owner_set(api_key=obj, owner=obj.owner, actor=_actor(request), user=request.user)
            return
        issued = services.api_key_create(name=obj.name, namespaces=list(obj.namespaces or []), actor=_actor(request))
        if obj.owner_id:
            services.api_key_owner_set(api_key=issued.api_key, owner=obj.owner, actor=_actor(request),
                                       user=request.user)
        obj.pk = issued.api_key.pk
        self.message_user(request, format_html(
            "API key <code>{}</code> — copy it now: the registry keeps only its digest.", issued.token),
            messages.WARNING)

    # Without ``permissions`` an action is offered to anyone who may view the list: a read-only auditor
    # could revoke every API key (found by tests/security/test_admin_privilege_escalation.py).
    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request, queryset):
        for key in queryset:
            services.api_key_revoke(name=key.name, actor=_actor(request), reason="revoked in the admin")
        self.message_user(request, "Revoked.", messages.SUCCESS)


@admin.register(Revocation)
class RevocationAdmin(ReadOnlyAdmin):
    list_display = ("key", "reason", "compromised_since", "revoked_at", "actor")
    search_fields = ("key__kid", "reason", "actor")
    readonly_fields = ("key", "reason", "compromised_since", "revoked_at", "actor", "request")
