from django.apps import AppConfig


class IdaosConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "idaos"
    verbose_name = "iDAOs"

    def ready(self) -> None:
        # idaos's own treasury kinds go through the same action registry as downstream kinds.
        from .services import treasury

        treasury.register()
