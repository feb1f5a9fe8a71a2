"""Document downloads; the ZIP of a selection is an admin action (see admin.py)."""

from django.urls import path

from . import views

app_name = "documents"

urlpatterns = [
    path("downloads/documents/<int:pk>/printable/", views.printable_download, name="printable_download"),
    path("downloads/documents/<int:pk>/xml/", views.xml_download, name="xml_download"),
    path("downloads/documents/<int:pk>/preview/", views.document_preview, name="preview"),
]
