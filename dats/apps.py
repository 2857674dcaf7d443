from __future__ import annotations

from django.apps import AppConfig


class DatsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dats"
    verbose_name = "Data Anchoring Tokens"

    def ready(self) -> None:
        """Every hook dats plugs into, registered here and nowhere else."""
        from celery.signals import worker_process_init

        from contributions import hooks as contribution_hooks
        from idaos import hooks as idao_hooks
        from ledger import outbox
        from portal.api_tokens import register_token_subject
        from quorums import hooks as quorum_hooks

        from . import chain_mirror, integrations, minhash
        from .services import challenges, charter, minting

        worker_process_init.connect(minhash.warm_up, weak=False, dispatch_uid="dats.minhash.warm_up")
        quorum_hooks.on_rounds_accepted(minting.on_rounds_accepted)
        quorum_hooks.on_appeals_decided(minting.on_appeals_decided)
        quorum_hooks.on_rounds_closed(challenges.on_rounds_closed)
        outbox.register_planner(chain_mirror.mirror_plan)
        outbox.register_chain_check(chain_mirror.chain_differences)
        idao_hooks.register_data_ref_checker(integrations.check_data_ref)
        idao_hooks.register_data_ref_describer(integrations.describe_data_refs)
        idao_hooks.register_action(
            charter.BOUNDS_ACTION,
            validate=charter.bounds_validate,
            execute=charter.bounds_execute,
            describe=charter.bounds_describe,
        )
        idao_hooks.register_idao_panel(integrations.idao_panel)
        contribution_hooks.register_download_grant(integrations.contribution_download_grant)
        register_token_subject(
            "idao", choices=integrations.idao_token_subjects, authorise=integrations.idao_token_authorise
        )

        from portal.profiles import register_profile_panel

        from . import panels

        register_profile_panel("dats", panels.dats_profile_panel, order=40)
