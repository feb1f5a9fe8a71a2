from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from webapp.inbox import dashboard

# Our product, not Django: its name in the header and the title, and no "View site" (there is none).
admin.site.site_header = _("Invoice mail")
admin.site.site_title = _("Invoice mail")
admin.site.index_title = _("Overview")
admin.site.site_url = None

urlpatterns = [
    path("admin/pipeline/", dashboard.view, name="pipeline_dashboard"),  # before the admin's own catch-all
    path("admin/", admin.site.urls),
    path("", include("webapp.inbox.urls")),
    path("", include("webapp.documents.urls")),
]
