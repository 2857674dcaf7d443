from django.apps import AppConfig


class IdaosConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "idaos"
    verbose_name = "iDAOs"

    def ready(self) -> None:
        from portal.dashboard import DashboardPanel, register_dashboard_panel
        from portal.profiles import ProfilePanel, register_profile_panel

        from . import delegate_selectors, overview

        def delegation_panel(person, viewer):
            return ProfilePanel(
                "Delegation",
                "idaos/_profile_delegation.html",
                delegate_selectors.profile_delegation_panel(person, viewer),
                "delegation",
            )

        def votes_panel(person, viewer):
            return ProfilePanel(
                "iDAOs and votes", "idaos/_profile_votes.html", delegate_selectors.profile_votes_panel(person), "votes"
            )

        register_profile_panel("delegation", delegation_panel, order=10)
        register_profile_panel("votes", votes_panel, order=20)
        # idaos's own treasury kinds go through the same action registry as downstream kinds.
        from .services import treasury

        treasury.register()

        def proposals_panel(user):
            return DashboardPanel(
                "Proposals waiting for a vote",
                "idaos/_dashboard_proposals.html",
                {"proposals": overview.proposals_awaiting(user)},
                "proposals",
            )

        register_dashboard_panel("proposals", proposals_panel, order=10)
