from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "webapp.inbox"
    verbose_name = "Invoice mail"
