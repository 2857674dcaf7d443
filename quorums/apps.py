from django.apps import AppConfig


class QuorumsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "quorums"
    verbose_name = "Quorums"
