"""The signed-in home page: a dashboard of what needs the person, and the registry of its panels.

portal is upstream of every app, so the home only knows who is signed in; each panel (proposals
waiting for a vote, validator assignments, contributions in flight, earnings, the inbox) is
registered by the app that owns the data, from its AppConfig.ready():

    from portal.dashboard import register_dashboard_panel
    register_dashboard_panel("proposals", my_panel, order=10)

`fn(user)` returns None (nothing to show) or a `DashboardPanel`: a title and the template that
renders it with `ctx`. A panel costs a fixed number of queries, whatever the person's history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DashboardPanel:
    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    anchor: str = ""


PanelFn = Callable[[Any], "DashboardPanel | None"]
_panels: dict[str, tuple[int, PanelFn]] = {}


def register_dashboard_panel(name: str, fn: PanelFn, *, order: int = 100) -> None:
    """Register (or re-register, idempotently under the same name) a panel of the dashboard."""
    _panels[name] = (order, fn)


def dashboard_panels(user: Any) -> list[DashboardPanel]:
    shown = []
    for name, (_, fn) in sorted(_panels.items(), key=lambda item: (item[1][0], item[0])):
        panel = fn(user)
        if panel is not None:
            shown.append(panel if panel.anchor else DashboardPanel(panel.title, panel.template, panel.context, name))
    return shown
