from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        """The outbox hook: every committed portal.events.emit() is fanned out by our task."""
        from portal import events

        from . import services

        events.register_fanout(services.fanout_enqueue)

        from portal.dashboard import register_dashboard_panel

        from . import panels

        register_dashboard_panel("inbox", panels.inbox_panel, order=50)
