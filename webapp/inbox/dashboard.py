"""The pipeline dashboard in the admin (/admin/pipeline/): last runs per mailbox, what needs a look,
queue depths, dead letters; actions: fetch now, retry failed mail, re-render failed previews."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .models import Mailbox
from .services.dashboard import messages_retry_failed, needing_a_look, previews_rerender_failed
from .services.health import pipeline_health

#: Who may look, and who may act.
VIEW_PERMISSION = "inbox.view_fetchrun"
ACT_PERMISSION = "inbox.change_mailbox"


def dashboard(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    if request.method == "POST":
        return _act(request)
    healthy, report = pipeline_health()
    context = {
        **admin.site.each_context(request),
        "title": _("Pipeline"),
        "healthy": healthy,
        "report": report,
        "next_read": _instant(report.get("scheduler", {}).get("next_tick")),
        "look": needing_a_look(),
        "can_act": request.user.has_perm(ACT_PERMISSION),
    }
    return TemplateResponse(request, "admin/inbox/pipeline_dashboard.html", context)


def _instant(iso: str | None) -> dt.datetime | None:
    """The template shows it in the site's time zone."""
    return dt.datetime.fromisoformat(iso) if iso else None


def _act(request: HttpRequest) -> HttpResponse:
    from .admin import fetch_start

    if not request.user.has_perm(ACT_PERMISSION):
        raise PermissionDenied
    action = request.POST.get("action")
    if action == "fetch":
        for mailbox in Mailbox.objects.filter(active=True):
            fetch_start(request, mailbox)
    elif action == "retry":
        count = messages_retry_failed()
        messages.success(
            request,
            ngettext("%(count)d message sent again.", "%(count)d messages sent again.", count) % {"count": count},
        )
    elif action == "rerender":
        count = previews_rerender_failed()
        messages.success(
            request,
            ngettext(
                "%(count)d preview sent to be rendered again.", "%(count)d previews sent to be rendered again.", count
            )
            % {"count": count},
        )
    return HttpResponseRedirect(reverse("pipeline_dashboard"))


#: The admin index links here (templates/admin/inbox/index.html).
admin.site.index_template = "admin/inbox/index.html"
view = admin.site.admin_view(dashboard)
