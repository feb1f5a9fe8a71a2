"""The claim deadline (Ley 19.983) in the admin: the list's column and filters, the section on a factura's
page, the page that records a decision, and the decisions' history. Times are shown in TIME_ZONE."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from webapp.inbox.admin import EMPTY

from .admin_rows import ReadOnlyInline
from .models import ClaimState, DecisionCode, Document, DocumentDecision
from .services.claims import (
    claim_state,
    claim_state_q,
    days_left,
    decided_late,
    decision_record,
    due_soon_q,
    is_claimable,
    may_decide,
)

#: A factura's state in words (the model's labels are shared with other lists: "Aceptado", "Reclamados").
STATE_LABELS: dict[str, Promise] = {
    ClaimState.PENDING: _("Pending decision"),
    ClaimState.ACCEPTED: _("Accepted by us"),
    ClaimState.CLAIMED: _("Claimed against"),
    ClaimState.TACITLY_ACCEPTED: _("Tacitly accepted"),
}


#: States whose days left (or since) are worth saying: not once decided.
SHOWS_LEFT = (ClaimState.PENDING, ClaimState.TACITLY_ACCEPTED)

#: Colours of the state's badge (inline: the pages' style sheets belong to others).
_BADGE_STYLES = {
    ClaimState.PENDING: "background:#fff4ce;color:#6b4e00",
    ClaimState.ACCEPTED: "background:#dff6dd;color:#0b5a08",
    ClaimState.CLAIMED: "background:#fde7e9;color:#a4262c",
    ClaimState.TACITLY_ACCEPTED: "background:#e8e8e8;color:#333",
}


#: Why a deadline is only an estimate.
ESTIMATE_HINT = _("Counted from the mail's arrival: the SII's reception is not known until its register is imported.")
#: Why a decision was taken ("motivo", not the model's shared "razón").
REASON = _("reason for the decision")


def local_instant(value: dt.datetime) -> str:
    return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


def days_left_text(document: Document, now: dt.datetime | None = None) -> str:
    """ "vence en 3 días", "vence hoy", "venció hace 2 días" (local calendar dates)."""
    now = now or timezone.now()
    days = days_left(document, now)
    if days is None or document.claim_deadline is None:
        return ""
    if document.claim_deadline >= now:
        if days == 0:
            return gettext("due today")
        if days == 1:
            return gettext("due tomorrow")
        return ngettext("due in %(days)d day", "due in %(days)d days", days) % {"days": days}
    if days == 0:
        return gettext("expired today")
    return ngettext("expired %(days)d day ago", "expired %(days)d days ago", -days) % {"days": -days}


def state_badge(state: ClaimState | None) -> SafeString:
    if state is None:
        return SafeString("")
    return format_html(
        '<span class="claim-state claim-{}" style="{};padding:0 4px;border-radius:8px;display:inline-block;font-size:11px">{}</span>',
        state.value,
        _BADGE_STYLES[state],
        STATE_LABELS[state],
    )


def deadline_cell(document: Document, now: dt.datetime | None = None) -> SafeString:
    """The list's column, narrow: the state, the deadline's date and what is left of it, "estimado" when it
    is; the deadline's time on hover."""
    if document.claim_deadline is None:
        return SafeString(EMPTY)
    now = now or timezone.now()
    state = claim_state(document, now)
    estimated = (
        format_html('<br><small class="claim-estimated" title="{}">{}</small>', ESTIMATE_HINT, gettext("estimated"))
        if document.claim_deadline_estimated
        else ""
    )
    left = days_left_text(document, now) if state in SHOWS_LEFT else ""
    return format_html(
        '{}<br><small class="claim-deadline" title="{}">{}</small>{}{}',
        state_badge(state),
        gettext("deadline %(deadline)s") % {"deadline": local_instant(document.claim_deadline)},
        date_format(timezone.localdate(document.claim_deadline), "SHORT_DATE_FORMAT"),
        format_html('<br><small class="claim-left">{}</small>', left) if left else "",
        estimated,
    )


class ClaimDeadlineFilter(admin.SimpleListFilter):
    title = _("claim deadline")
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [
            ("soon", _("Due in 2 days or less")),
            ("overdue", _("Expired (tacitly accepted)")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "soon":
            return queryset.filter(due_soon_q(now)).order_by("claim_deadline")
        if self.value() == "overdue":
            return queryset.filter(claim_state_q(ClaimState.TACITLY_ACCEPTED, now))
        return queryset


class ClaimStateFilter(admin.SimpleListFilter):
    title = _("claim state")
    parameter_name = "claim_state"

    def lookups(self, request, model_admin):
        return [(state.value, STATE_LABELS[state]) for state in ClaimState]

    def queryset(self, request, queryset):
        if self.value() in ClaimState.values:
            return queryset.filter(claim_state_q(str(self.value()), timezone.now()))
        return queryset


class DecisionInline(ReadOnlyInline):
    """Who decided what, when and why: every decision recorded, the latest first."""

    model = DocumentDecision
    fields = ("decided_at_display", "decided_by", "code", "reason_display", "late")
    readonly_fields = fields
    verbose_name = _("decision")
    verbose_name_plural = _("decisions (history)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("decided_by", "document")

    @admin.display(description=_("decided at"))
    def decided_at_display(self, obj: DocumentDecision) -> str:
        return local_instant(obj.decided_at)

    @admin.display(description=REASON)
    def reason_display(self, obj: DocumentDecision) -> str:
        return obj.reason or EMPTY

    @admin.display(description=_("deadline"))
    def late(self, obj: DocumentDecision) -> str:
        return gettext("after the deadline") if decided_late(obj, obj.document) else gettext("in time")


def claim_summary(document: Document, *, button: bool) -> SafeString:
    """The factura page's section: state, deadline (local time), days left, where the deadline comes from."""
    now = timezone.now()
    state = claim_state(document, now)
    if document.claim_deadline is None:
        return format_html("{}<br><small>{}</small>", state_badge(state), gettext("No deadline known yet."))
    origin: str
    if document.claim_deadline_estimated:
        origin = format_html('<span class="claim-estimated">{}</span>: {}', gettext("estimated"), ESTIMATE_HINT)
    elif document.sii_received_at is not None:
        origin = gettext("Counted from the SII's reception on %(instant)s.") % {
            "instant": local_instant(document.sii_received_at)
        }
    else:
        origin = ""
    left = days_left_text(document, now) if state in SHOWS_LEFT else ""
    decide = (
        format_html(
            '<p><a class="button claim-decide" href="{}">{}</a></p>',
            reverse("admin:documents_document_decision", args=[document.pk]),
            gettext("Record a decision"),
        )
        if button
        else ""
    )
    return format_html(
        '<div class="claim-summary">{} <span class="claim-deadline">{}</span>{}<br><small>{}</small>{}</div>',
        state_badge(state),
        gettext("deadline %(deadline)s") % {"deadline": local_instant(document.claim_deadline)},
        format_html(' <b class="claim-left">({})</b>', left) if left else "",
        origin,
        decide,
    )


class DecisionForm(forms.Form):
    code = forms.ChoiceField(label=_("decision"), choices=DecisionCode.choices, widget=forms.RadioSelect)
    reason = forms.CharField(
        label=REASON,
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Required for a claim (RCD, RFP, RFT). Nothing is sent to the SII."),
    )


class ClaimsAdmin(admin.ModelAdmin):
    """What DocumentAdmin adds for claims: the page section, the decision page and its address."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), "claim_display", "claim_display_with_decision")

    def claim_fieldsets(self, request: HttpRequest, obj: Document | None) -> list[tuple[Any, dict[str, Any]]]:
        """The section of a factura's page; with the button to decide for those who may."""
        if obj is None or not is_claimable(obj):
            return []
        field = "claim_display_with_decision" if may_decide(request.user, obj) else "claim_display"
        return [(_("Acceptance or claim (Ley 19.983)"), {"fields": (field,)})]

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> Any:
        instances = super().get_inline_instances(request, obj)
        if obj is not None and not obj.decisions.exists():
            return [inline for inline in instances if not isinstance(inline, DecisionInline)]
        return instances

    def get_urls(self) -> Any:
        view = self.admin_site.admin_view(self.decision_view)
        return [path("<path:object_id>/decision/", view, name="documents_document_decision"), *super().get_urls()]

    @admin.display(description=_("deadline"), ordering="claim_deadline")  # short: the list is full
    def claim_deadline_display(self, obj: Document) -> SafeString:
        return deadline_cell(obj)

    @admin.display(description=_("state"))
    def claim_display(self, obj: Document) -> SafeString:
        return claim_summary(obj, button=False)

    @admin.display(description=_("state"))
    def claim_display_with_decision(self, obj: Document) -> SafeString:
        return claim_summary(obj, button=True)

    def decision_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        document = self.get_object(request, object_id)
        if document is None or not is_claimable(document):
            raise Http404(gettext("No such factura."))
        if not may_decide(request.user, document):
            raise PermissionDenied
        form = DecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                decision = decision_record(
                    document, form.cleaned_data["code"], form.cleaned_data["reason"], request.user
                )
            except ValidationError as error:
                form.add_error("reason" if error.code == "reason_required" else None, error)
            else:
                self._decided_message(request, document, decision)
                return HttpResponseRedirect(reverse("admin:documents_document_change", args=[document.pk]))
        now = timezone.now()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": document,
            "title": gettext("Record a decision on %(document)s") % {"document": document},
            "form": form,
            "state": state_badge(claim_state(document, now)),
            "deadline": local_instant(document.claim_deadline) if document.claim_deadline else "",
            "left": days_left_text(document, now),
            "estimated": document.claim_deadline_estimated,
            "expired": document.claim_deadline is not None and document.claim_deadline < now,
        }
        return TemplateResponse(request, "admin/documents/document/claim_decision.html", context)

    def _decided_message(self, request: HttpRequest, document: Document, decision: DocumentDecision) -> None:
        text = gettext("Recorded: %(decision)s.") % {"decision": decision.get_code_display()}
        if decided_late(decision, document):
            text += " " + gettext(
                "The deadline had passed: for the SII the factura was already accepted, and a claim now is out of time."
            )
            messages.warning(request, text)
        else:
            messages.success(request, text)
