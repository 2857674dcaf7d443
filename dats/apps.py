from django.apps import AppConfig


class DatsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dats"
    verbose_name = "Data Anchoring Tokens"
