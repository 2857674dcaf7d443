from __future__ import annotations

from django.apps import AppConfig


class ContributionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "contributions"
    verbose_name = "Contributions"

    def ready(self) -> None:
        """Every hook contributions plugs into, registered here and nowhere else."""
        from idaos import hooks as idao_hooks
        from quorums import hooks as quorum_hooks

        from . import openapi, services, subject

        quorum_hooks.register_subject_kind(subject.SUBJECT_KIND, describe=subject.describe, open=subject.open)
        quorum_hooks.on_verdicts(services.on_verdicts)
        quorum_hooks.on_rounds_closed(services.on_rounds_closed)
        quorum_hooks.on_appeals_decided(services.on_appeals_decided)
        quorum_hooks.on_sweep(services.contributions_route_waiting)
        idao_hooks.register_idao_panel(subject.idao_panel)
        openapi.register()

        from portal.dashboard import register_dashboard_panel
        from portal.profiles import register_profile_panel

        from . import panels

        register_dashboard_panel("contributions", panels.in_flight_panel, order=30)
        register_profile_panel("contributions", panels.contributions_profile_panel, order=30)
