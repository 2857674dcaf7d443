from __future__ import annotations

from decimal import Decimal

from django.apps import AppConfig

_INT64 = 2**63 - 1


def _exact(value: object) -> int:
    return int(Decimal(str(value)))


def rw_muldiv(a: object, b: object, c: object, d: object, e: object) -> int | str | None:
    """floor(a·b·c / (d·e)) in exact integers: SQLite's own integers would overflow."""
    if None in (a, b, c, d, e):
        return None
    result = _exact(a) * _exact(b) * _exact(c) // (_exact(d) * _exact(e))
    return result if result <= _INT64 else str(result)


def _register_sqlite_functions(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function("rw_muldiv", 5, rw_muldiv, deterministic=True)


class RewardsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "rewards"
    verbose_name = "Rewards"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        connection_created.connect(_register_sqlite_functions, dispatch_uid="rewards_sqlite_functions")

        from dats.hooks import register_challenge_window
        from portal.dashboard import register_dashboard_panel

        from . import panels, selectors

        register_challenge_window(selectors.challenge_window_ends)

        register_dashboard_panel("earnings", panels.earnings_panel, order=40)
