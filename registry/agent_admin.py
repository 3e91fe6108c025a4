"""Admin of agents (through the services) and their capability declarations (read-only history)."""

from django.contrib import admin

from registry import agent_services
from registry.agent_models import Agent, CapabilityDeclaration, CapabilityItem


class DeclarationInline(admin.TabularInline):
    model = CapabilityDeclaration
    fields = ["id", "status", "endpoint", "protocol", "declared_at", "heartbeat_at", "expires_at", "ended_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["-declared_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "api_key", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "description"]
    fields = ["name", "description", "api_key", "is_active", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]
    inlines = [DeclarationInline]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "name"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        actor = f"user:{request.user.get_username()}"
        if change:
            agent_services.agent_update(agent=obj, actor=actor, description=obj.description,
                                        is_active=obj.is_active, api_key=obj.api_key)
        else:
            created = agent_services.agent_create(name=obj.name, actor=actor, description=obj.description,
                                                  api_key=obj.api_key)
            obj.pk = created.pk


class ItemInline(admin.TabularInline):
    model = CapabilityItem
    fields = ["version", "content_hash"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CapabilityDeclaration)
class CapabilityDeclarationAdmin(admin.ModelAdmin):
    """History is evidence: visible, never edited here (agents declare through the API)."""

    list_display = ["id", "agent", "status", "protocol", "endpoint", "declared_at", "expires_at"]
    list_filter = ["status", "protocol"]
    search_fields = ["agent__name", "endpoint"]
    list_select_related = ["agent"]
    inlines = [ItemInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
