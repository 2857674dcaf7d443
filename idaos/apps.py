from django.apps import AppConfig


class IdaosConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "idaos"
    verbose_name = "iDAOs"
