from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "webapp.documents"
    verbose_name = "DTE documents"
    default_auto_field = "django.db.models.BigAutoField"
