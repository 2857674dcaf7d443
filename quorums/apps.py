from __future__ import annotations

from django.apps import AppConfig


class QuorumsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "quorums"
    verbose_name = "Quorums"

    def ready(self) -> None:
        from idaos.hooks import register_action, register_builder_choices, register_idao_panel

        from . import governance, hooks, selectors
        from .services import appeals

        register_action(
            "trust_quorum",
            validate=governance.validate,
            execute=governance.execute_trust,
            describe=governance.describe_trust,
        )
        register_action(
            "drop_quorum",
            validate=governance.validate,
            execute=governance.execute_drop,
            describe=governance.describe_drop,
        )
        register_idao_panel(selectors.idao_panel)
        # First among the closed-rounds hooks (quorums is ready before the apps downstream): an
        # appeal is decided before contributions and dats react to its panel's round.
        hooks.on_rounds_closed(appeals.on_rounds_closed)
        register_builder_choices("quorum", selectors.quorum_choices)

        from portal.dashboard import register_dashboard_panel
        from portal.profiles import register_profile_panel

        from . import panels

        register_dashboard_panel("assignments", panels.assignments_panel, order=20)
        register_profile_panel("validator", panels.validator_record_panel, order=50)
