from __future__ import annotations

from django.apps import AppConfig


class DatsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dats"
    verbose_name = "Data Anchoring Tokens"

    def ready(self) -> None:
        from quorums import hooks

        from . import contributions

        hooks.register_subject_kind(
            contributions.SUBJECT_KIND, describe=contributions.describe, download=contributions.download
        )
        hooks.on_verdict(contributions.on_verdict)
        hooks.on_round_closed(contributions.on_round_closed)
        hooks.on_sweep(contributions.route_waiting)
        from . import (
            minting,  # noqa: F401  (registers the DAT hooks: minting, manifest checks, grants)
            openapi,
        )

        openapi.register()

        from portal.api_tokens import register_token_subject

        from . import grants

        register_token_subject("idao", choices=grants.idao_token_subjects, authorise=grants.idao_token_authorise)
