from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from .models import ApiToken, ParkedTask, User


def _siwe_admin_login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """Admins sign in with their wallet like everyone else; there are no passwords."""
    next_url = request.GET.get("next", reverse("admin:index"))
    return HttpResponseRedirect(f"{reverse('login')}?{urlencode({'next': next_url})}")


admin.site.login = _siwe_admin_login  # type: ignore[method-assign]  # SIWE replaces the password form


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that change only through services (ledger, audit trails): view, never edit."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


admin.site.site_header = "iDAO Portal administration"


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("address", "display_name", "is_staff", "is_active", "date_joined", "last_login")
    list_filter = ("is_staff", "is_active")
    search_fields = ("address", "display_name")
    readonly_fields = ("address", "date_joined", "last_login")
    fields = ("address", "display_name", "is_active", "is_staff", "is_superuser", "date_joined", "last_login")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "subject", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")
    search_fields = ("name", "user__address", "subject")


@admin.register(ParkedTask)
class ParkedTaskAdmin(ReadOnlyAdmin):
    list_display = ("parked_at", "task_name", "args", "retries", "resolved", "error")
    list_filter = ("resolved",)
