"""The pipeline dashboard in the admin (/admin/pipeline/): its headline is the worst thing wrong now
(services/dashboard.py: alerts_now), each item linked to its rows, "Todo en orden" only when nothing
is; then the last reading per mailbox, what needs a look, queue depths; actions: read now, retry
failed mail, re-render failed previews. It reloads itself every minute.

A user limited to some mailboxes sees and acts on those mailboxes only: their runs, messages and
previews, counted among themselves; queue depths and dead letters, which count every mailbox's
work, are for users who see them all.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .admin_dead_letters import DEAD_LETTERS_PERMISSION
from .models import FetchRun, Mailbox
from .services.access import limit_to_mailboxes, visible_mailbox_ids
from .services.dashboard import (
    alerts_now,
    documents_in_doubt,
    messages_retry_failed,
    needing_a_look,
    previews_rerender_failed,
)
from .services.health import pipeline_health

#: Who may look, and who may act.
VIEW_PERMISSION = "inbox.view_fetchrun"
ACT_PERMISSION = "inbox.change_mailbox"
#: The page reloads itself this often (a meta refresh: no script needed).
REFRESH_SECONDS = 60


def dashboard(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    if request.method == "POST":
        return _act(request)
    mailbox_ids = visible_mailbox_ids(request.user)
    _healthy, report = pipeline_health(mailbox_ids=mailbox_ids)
    doubts = documents_in_doubt(mailbox_ids=mailbox_ids)
    look = needing_a_look(mailbox_ids=mailbox_ids)
    alerts = alerts_now(
        mailbox_ids=mailbox_ids,
        report=report,
        look=look,
        doubts=doubts,
        sees_dead_letters=request.user.has_perm(DEAD_LETTERS_PERMISSION),
    )
    scheduler = report.get("scheduler", {})
    context = {
        **admin.site.each_context(request),
        "title": _("Pipeline"),
        "healthy": not alerts,
        "alerts": alerts,
        "doubts": doubts,
        "report": report,
        "last_readings": [_reading(row) for row in report.get("mailboxes", [])],
        "last_tick": _instant(scheduler.get("last_tick")),
        "next_read": _instant(scheduler.get("next_tick")),
        "checked_at": _instant(report.get("checked_at")),
        "refresh_seconds": REFRESH_SECONDS,
        "look": look,
        "sees_every_mailbox": mailbox_ids is None,
        "can_act": request.user.has_perm(ACT_PERMISSION),
    }
    return TemplateResponse(request, "admin/inbox/pipeline_dashboard.html", context)


def _instant(iso: str | None) -> dt.datetime | None:
    """The template shows it in the site's time zone."""
    return dt.datetime.fromisoformat(iso) if iso else None


def _reading(row: dict) -> dict:
    """A mailbox's last reading from the health report, its times as instants and its status in words."""
    run = row["last_run"]
    if run is None:
        return {"mailbox": row["mailbox"], "run": None}
    return {
        "mailbox": row["mailbox"],
        "run": {
            "id": run["id"],
            "status": run["status"],
            "status_label": FetchRun.Status(run["status"]).label,
            "created_at": _instant(run["created_at"]),
            "finished_at": _instant(run["finished_at"]),
        },
    }


def _act(request: HttpRequest) -> HttpResponse:
    from .admin_mailboxes import fetch_start

    if not request.user.has_perm(ACT_PERMISSION):
        raise PermissionDenied
    mailbox_ids = visible_mailbox_ids(request.user)
    action = request.POST.get("action")
    if action == "fetch":
        for mailbox in limit_to_mailboxes(Mailbox.objects.filter(active=True), mailbox_ids, mailbox_field="pk"):
            fetch_start(request, mailbox)
    elif action == "retry":
        count = messages_retry_failed(mailbox_ids=mailbox_ids)
        messages.success(
            request,
            ngettext("%(count)d message sent again.", "%(count)d messages sent again.", count) % {"count": count},
        )
    elif action == "rerender":
        count = previews_rerender_failed(mailbox_ids=mailbox_ids)
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
