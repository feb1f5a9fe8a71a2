from django.contrib import admin
from django.urls import include, path

from webapp.inbox import dashboard

urlpatterns = [
    path("admin/pipeline/", dashboard.view, name="pipeline_dashboard"),  # before the admin's own catch-all
    path("admin/", admin.site.urls),
    path("", include("webapp.inbox.urls")),
    path("", include("webapp.documents.urls")),
]
