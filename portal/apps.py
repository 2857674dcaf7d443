from django.apps import AppConfig


class PortalConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "portal"
    verbose_name = "Portal and identity"

    def ready(self) -> None:
        from django.contrib.auth.models import update_last_login
        from django.contrib.auth.signals import user_logged_in

        # siwe_verify sets last_login inside its own transaction; the stock receiver would
        # spend one more write (and commit) on every sign-in.
        user_logged_in.disconnect(update_last_login, dispatch_uid="update_last_login")
        from .startup import freeze_startup_objects

        freeze_startup_objects()
