"""Receivers' answers in the admin, read-only: a list of every RespuestaDTE and EnvioRecibos row of the
user's mailboxes, and a table of them on the page of the document they answer."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pipeline.dte.rut import format_rut
from webapp.inbox.admin import EMPTY, MailboxScoped, ReadOnlyAdmin, _admin_link
from webapp.inbox.search import with_folio_or_rut
from webapp.inbox.services.access import limit_to_user

from .admin_rows import ReadOnlyInline
from .models import DocumentResponse

Kind = DocumentResponse.Kind
_MAILBOX = "attachment__message__mailbox_id"

#: What an answer says, as the status filter groups them; a Recibo is always a receipt acknowledged.
OUTCOMES: dict[str, Q] = {
    "accepted": Q(kind=Kind.RECEIPT) | Q(status_code=0),
    "discrepancies": Q(kind=Kind.RESULT, status_code=1),
    "rejected": Q(status_code__isnull=False)
    & ~Q(kind=Kind.RECEIPT)
    & ~Q(status_code=0)
    & ~Q(kind=Kind.RESULT, status_code=1),
    "unknown": Q(status_code__isnull=True) & ~Q(kind=Kind.RECEIPT),
}


def outcome(row: DocumentResponse) -> str:
    """In words: EstadoRecepDTE 0 is received, others not; EstadoDTE 0 accepted, 1 with discrepancies, 2 rejected."""
    if row.kind == Kind.RECEIPT:
        return gettext("Receipt acknowledged")
    if row.status_code is None:
        return gettext("No status")
    if row.kind == Kind.RECEPTION:
        return gettext("Received") if row.status_code == 0 else gettext("Not received")
    if row.status_code == 0:
        return gettext("Accepted")
    return gettext("Accepted with discrepancies") if row.status_code == 1 else gettext("Rejected")


class OutcomeFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [
            ("accepted", _("Accepted or received")),
            ("discrepancies", _("Accepted with discrepancies")),
            ("rejected", _("Rejected or not received")),
            ("unknown", _("No status")),
        ]

    def queryset(self, request, queryset):
        condition = OUTCOMES.get(self.value() or "")
        return queryset if condition is None else queryset.filter(condition)


def _status(row: DocumentResponse) -> SafeString:
    code = "" if row.status_code is None else f" ({row.status_code})"
    detail = row.status_text or EMPTY
    return format_html("<b>{}</b>{}<br><small>{}</small>", outcome(row), code, detail)


def _document_link(row: DocumentResponse) -> str:
    return _admin_link(row.document, str(row.document)) if row.document is not None else gettext("not received")


@admin.register(DocumentResponse)
class DocumentResponseAdmin(MailboxScoped, ReadOnlyAdmin):
    """Every answer of the user's mailboxes; the document column links the one it answers, once received."""

    mailbox_field = _MAILBOX
    list_display = (
        "kind",
        "doc_type",
        "folio",
        "issuer_display",
        "responder_display",
        "status_display",
        "answered_at",
        "document_link",
        "attachment_link",
    )
    list_display_links = ("folio",)
    list_filter = ("kind", OutcomeFilter, "doc_type")
    search_fields = ("status_text",)  # plus folio and RUT: get_search_results
    search_help_text = _("Folio, RUT (with or without dots) or status text.")
    list_select_related = ("attachment", "document")
    ordering = ("-answered_at", "-id")
    list_per_page = 100

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        searched, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        rut_fields = ("issuer_rut", "receiver_rut", "responder_rut")
        return with_folio_or_rut(searched, queryset, search_term, rut_fields=rut_fields), may_have_duplicates

    @admin.display(description=_("issuer"), ordering="issuer_rut")
    def issuer_display(self, row: DocumentResponse) -> str:
        return format_rut(row.issuer_rut)

    @admin.display(description=_("answered by"), ordering="responder_rut")
    def responder_display(self, row: DocumentResponse) -> str:
        return format_rut(row.responder_rut) or EMPTY

    @admin.display(description=_("status"), ordering="status_code")
    def status_display(self, row: DocumentResponse) -> SafeString:
        return _status(row)

    @admin.display(description=_("document"))
    def document_link(self, row: DocumentResponse) -> str:
        return _document_link(row)

    @admin.display(description=_("file"))
    def attachment_link(self, row: DocumentResponse) -> str:
        return _admin_link(row.attachment, row.attachment.filename)


class DocumentResponseInline(ReadOnlyInline):
    """On a document's page: what its receivers answered, in the mail of the user's mailboxes."""

    model = DocumentResponse
    fk_name = "document"
    fields = ("kind", "status_display", "responder_display", "answered_at", "attachment_link")
    readonly_fields = fields
    verbose_name_plural = _("receivers' answers")

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("attachment").order_by("answered_at", "pk")
        return limit_to_user(queryset, request.user, mailbox_field=_MAILBOX)

    @admin.display(description=_("status"))
    def status_display(self, row: DocumentResponse) -> SafeString:
        return _status(row)

    @admin.display(description=_("answered by"))
    def responder_display(self, row: DocumentResponse) -> str:
        return format_rut(row.responder_rut) or EMPTY

    @admin.display(description=_("file"))
    def attachment_link(self, row: DocumentResponse) -> str:
        return _admin_link(row.attachment, row.attachment.filename)
