"""Downloads, previews and the health check; the admin is mounted by the project's urls."""

from django.urls import path

from . import monitoring, views

app_name = "inbox"

urlpatterns = [
    path("downloads/attachments/<int:pk>/", views.attachment_download, name="attachment_download"),
    path("downloads/attachments/<int:pk>/preview/", views.attachment_preview, name="attachment_preview"),
    path("health/", views.health, name="health"),
    path("health/live", views.health_live, name="health_live"),
    path("health/ready", monitoring.health_ready, name="health_ready"),
    path("health/pipeline", monitoring.health_pipeline, name="health_pipeline"),
    path("metrics", monitoring.metrics, name="metrics"),
]
