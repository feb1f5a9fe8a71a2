"""The admin page of the queues' dead letters (/admin/inbox/mailbox/dead-letters/)."""

from __future__ import annotations

from datetime import datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext

from .services.access import visible_mailbox_ids
from .services.dead_letters import dead_letter_resend, dead_letters_visible

#: Staff with this permission see the dead letters of their mailboxes and may send them again.
DEAD_LETTERS_PERMISSION = "inbox.resend_dead_letters"


def dead_letters_view(request: HttpRequest) -> HttpResponse:
    """The dead letters with their reason; POST sends one again (staff + permission).

    A user limited to some mailboxes sees and sends only the letters of those mailboxes
    (services/dead_letters.py); another mailbox's letter answers as one that is gone.
    """
    if not request.user.has_perm(DEAD_LETTERS_PERMISSION):
        raise PermissionDenied
    mailbox_ids = visible_mailbox_ids(request.user)
    if request.method == "POST":
        queue, message_id = request.POST.get("queue", ""), request.POST.get("message_id", "")
        try:
            resent = dead_letter_resend(queue=queue, message_id=message_id, mailbox_ids=mailbox_ids)
        except ValueError:
            resent = False
        if resent:
            messages.success(
                request,
                gettext("Dead letter %(id)s sent again to the %(queue)s queue.") % {"id": message_id, "queue": queue},
            )
        else:
            messages.warning(request, gettext("That dead letter is gone already; nothing sent."))
        return HttpResponseRedirect(reverse("admin:inbox_dead_letters"))
    letters = dead_letters_visible(mailbox_ids=mailbox_ids)
    for letter in letters:
        letter["failed_at"] = datetime.fromtimestamp(letter["failed_at_ms"] / 1000).astimezone()
    context = {**admin.site.each_context(request), "title": gettext("Dead letters"), "letters": letters}
    return TemplateResponse(request, "admin/inbox/dead_letters.html", context)
