"""A person's profile page (/people/<address>/) and the registry of its panels.

portal owns identity, so the page itself only knows the person's address; everything else on it
(statement and delegations, iDAOs and votes, and later contributions, DATs, a validator record) is
a panel registered by the app that owns the data, from its AppConfig.ready():

    from portal.profiles import register_profile_panel
    register_profile_panel("votes", my_panel, order=20)

`fn(person, viewer)` returns None (nothing to show) or a `ProfilePanel`: a title and the template
that renders it with `context` (plus `person` and `viewer`). Panels appear by `order`, then name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProfilePanel:
    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    anchor: str = ""


PanelFn = Callable[[Any, Any], "ProfilePanel | None"]
_panels: dict[str, tuple[int, PanelFn]] = {}


def register_profile_panel(name: str, fn: PanelFn, *, order: int = 100) -> None:
    """Register (or re-register, idempotently under the same name) a panel of the profile page."""
    _panels[name] = (order, fn)


def profile_panels(person: Any, viewer: Any) -> list[ProfilePanel]:
    shown = []
    for name, (_, fn) in sorted(_panels.items(), key=lambda item: (item[1][0], item[0])):
        panel = fn(person, viewer)
        if panel is not None:
            shown.append(panel if panel.anchor else ProfilePanel(panel.title, panel.template, panel.context, name))
    return shown
