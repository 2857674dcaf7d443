"""The inbox panel of the dashboard (unread count); registered from NotificationsConfig.ready()."""

from __future__ import annotations

from typing import Any

from portal.dashboard import DashboardPanel

from .selectors import unread_count


def inbox_panel(user: Any) -> DashboardPanel:
    return DashboardPanel("Inbox", "notifications/_dashboard_inbox.html", {"unread": unread_count(user=user)})
