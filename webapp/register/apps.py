from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegisterConfig(AppConfig):
    name = "webapp.register"
    verbose_name = _("SII purchase register")
    default_auto_field = "django.db.models.BigAutoField"
