"""Admin of federation: upstreams (saved through the service), read-only mirrored origins and quarantine."""

from django.contrib import admin, messages
from django.db import transaction

from action_registry.errors import RegistryError
from core.admin import ReadOnlyAdmin
from federation import services
from federation.models import MirroredVersion, QuarantinedRecord, Upstream


@admin.register(Upstream)
class UpstreamAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "enabled", "sync_interval_minutes", "cursor", "last_synced_at", "last_error")
    readonly_fields = ("cursor", "last_synced_at", "last_error", "created_at")
    actions = ["sync_now"]

    def save_model(self, request, obj, form, change):
        try:
            services.upstream_save(upstream=obj, actor=f"user:{request.user.get_username()}")
        except RegistryError as exc:
            self.message_user(request, f"not saved: {exc.code}: {exc.message}", messages.ERROR)

    @admin.action(description="Mirror the selected upstreams now (in the background)", permissions=["change"])
    def sync_now(self, request, queryset):
        from federation.tasks import mirror_sync_task

        for upstream in queryset:
            transaction.on_commit(lambda pk=upstream.pk: mirror_sync_task.delay(pk))
        self.message_user(request, f"queued {queryset.count()} mirror sync(s)", messages.SUCCESS)


@admin.register(MirroredVersion)
class MirroredVersionAdmin(ReadOnlyAdmin):
    list_display = ("version", "upstream", "registry", "fetched_at")
    list_filter = ("upstream",)
    list_select_related = ("version__action", "upstream")


@admin.register(QuarantinedRecord)
class QuarantinedRecordAdmin(ReadOnlyAdmin):
    list_display = ("name", "version", "upstream", "reason", "times_seen", "last_seen_at")
    list_filter = ("reason", "upstream")
    search_fields = ("name", "message")
    exclude = ("record",)
    readonly_fields = ("record_text",)

    @admin.display(description="record as received")
    def record_text(self, obj):
        return bytes(obj.record).decode("utf-8", errors="replace")[:20000]
