"""Downloads, previews and the health check; the admin is mounted by the project's urls."""

from django.urls import path

from . import views

app_name = "inbox"

urlpatterns = [
    path("downloads/attachments/<int:pk>/", views.attachment_download, name="attachment_download"),
    path("downloads/attachments/<int:pk>/preview/", views.attachment_preview, name="attachment_preview"),
    path("health/", views.health, name="health"),
]
