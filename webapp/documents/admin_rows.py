"""A document's rows on its page, read-only: lines (the first ones, a document may have 1,000), global
discounts and surcharges, other taxes and retentions, instalments, and the chain of cesiones."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import Exists, Model, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pipeline.dte.formatting import money
from pipeline.dte.kinds import DOC_TYPES
from pipeline.dte.rut import format_rut
from webapp.inbox.admin import EMPTY, ReadOnlyAdmin, _admin_link
from webapp.inbox.inlines import FirstRowsInline
from webapp.inbox.services.access import limit_to_user, visible_mailbox_ids

from .admin_money import decimal_cl, truncated
from .admin_trust import SIGNATURE_LABELS, TED_LABELS, check_sentence, copy_content, differing_fields
from .models import (
    Document,
    DocumentAssignment,
    DocumentDiscount,
    DocumentLine,
    DocumentPayment,
    DocumentReference,
    DocumentResponse,
    DocumentSource,
    DocumentTax,
)
from .reference_labels import document_label, reason_label, reference_type_label
from .views import visible_documents

#: IndExe of a line (and IndExeDR of a discount): what kind of amount it is.
EXEMPTIONS = {
    1: _("Exempt"),
    2: _("Non-billable"),
    3: _("Container deposit"),
    4: _("Not a sale"),
    5: _("To deduct"),
    6: _("Non-billable, negative"),
}

#: Descriptions in the lines table are cut to this many characters.
DESCRIPTION_CHARS = 60


def _exemption(code: int | None) -> str:
    if code is None:
        return EMPTY
    return str(EXEMPTIONS.get(code, code))


def _money(value: Decimal | None, currency: str) -> str:
    return money(value, currency) if value is not None else EMPTY


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LineInline(ReadOnlyInline, FirstRowsInline):
    model = DocumentLine
    fields = ("number", "code", "item", "quantity_display", "unit", "price", "discount", "amount_display", "exemption")
    readonly_fields = fields
    classes = ("document-lines",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("document")

    @admin.display(description=_("name"))
    def item(self, line: DocumentLine) -> SafeString:
        name = truncated(line.name, 80)
        if not line.description:
            return name
        return format_html("{}<br><small>{}</small>", name, truncated(line.description, DESCRIPTION_CHARS))

    @admin.display(description=_("quantity"))
    def quantity_display(self, line: DocumentLine) -> str:
        return decimal_cl(line.quantity) if line.quantity is not None else EMPTY

    @admin.display(description=_("unit price"))
    def price(self, line: DocumentLine) -> str:
        return _money(line.unit_price, line.document.currency)

    @admin.display(description=_("discount"))
    def discount(self, line: DocumentLine) -> str:
        parts = []
        if line.discount_percent:
            parts.append(f"{decimal_cl(line.discount_percent)} %")
        if line.discount_amount:
            parts.append(money(-line.discount_amount, line.document.currency))
        if line.surcharge_amount:
            parts.append(money(line.surcharge_amount, line.document.currency))
        return " ".join(parts) or EMPTY

    @admin.display(description=_("amount"))
    def amount_display(self, line: DocumentLine) -> str:
        return _money(line.amount, line.document.currency)

    @admin.display(description=_("exemption"))
    def exemption(self, line: DocumentLine) -> str:
        return _exemption(line.exemption_code)


class DiscountInline(ReadOnlyInline):
    model = DocumentDiscount
    fields = ("line", "kind", "description", "value_display", "amount_display", "exemption")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("document")

    @admin.display(description=_("kind"))
    def kind(self, row: DocumentDiscount) -> str:
        return gettext("Surcharge") if row.surcharge else gettext("Discount")

    @admin.display(description=_("value"))
    def value_display(self, row: DocumentDiscount) -> str:
        return f"{decimal_cl(row.value)} %" if row.percent else money(row.value, row.document.currency)

    @admin.display(description=_("amount"))
    def amount_display(self, row: DocumentDiscount) -> str:
        return _money(row.amount, row.document.currency)

    @admin.display(description=_("exemption"))
    def exemption(self, row: DocumentDiscount) -> str:
        return _exemption(row.exemption_code)


class TaxInline(ReadOnlyInline):
    model = DocumentTax
    fields = ("code", "name", "rate_display", "amount_display", "withheld")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("document")

    @admin.display(description=_("rate"))
    def rate_display(self, row: DocumentTax) -> str:
        return f"{decimal_cl(row.rate)} %" if row.rate is not None else EMPTY

    @admin.display(description=_("amount"))
    def amount_display(self, row: DocumentTax) -> str:
        return _money(row.amount, row.document.currency)


class PaymentInline(ReadOnlyInline):
    model = DocumentPayment
    fields = ("number", "due", "amount_display", "note")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("document")

    @admin.display(description=_("amount"))
    def amount_display(self, row: DocumentPayment) -> str:
        return _money(row.amount, row.document.currency)


class AssignmentInline(ReadOnlyInline):
    """The chain of cesiones, the latest first; only those of AEC the user's mailboxes received."""

    model = DocumentAssignment
    fk_name = "document"
    fields = ("sequence", "assignor_display", "assignee_display", "amount_display", "assigned_at", "aec_link")
    readonly_fields = fields
    verbose_name_plural = _("assignments (cesiones)")

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("attachment").order_by("-sequence")
        return limit_to_user(queryset, request.user, mailbox_field="attachment__message__mailbox_id")

    @admin.display(description=_("assignor"))
    def assignor_display(self, row: DocumentAssignment) -> SafeString:
        return format_html("{}<br><small>{}</small>", row.assignor_name or EMPTY, format_rut(row.assignor_rut))

    @admin.display(description=_("assignee"))
    def assignee_display(self, row: DocumentAssignment) -> SafeString:
        return format_html("{}<br><small>{}</small>", row.assignee_name or EMPTY, format_rut(row.assignee_rut))

    @admin.display(description=_("amount assigned"))
    def amount_display(self, row: DocumentAssignment) -> str:
        return money(row.amount) if row.amount is not None else EMPTY

    @admin.display(description=_("AEC file"))
    def aec_link(self, row: DocumentAssignment) -> str:
        return _admin_link(row.attachment, row.attachment.filename)


@admin.register(DocumentLine)
class DocumentLineAdmin(ReadOnlyAdmin):
    """Every line of a document, where its page shows only the first ones (not in the admin's index)."""

    list_display = ("document", "number", "code", "name", "quantity", "unit", "unit_price", "amount")
    list_display_links = None
    list_select_related = ("document",)
    search_fields = ("name", "code")
    list_per_page = 200

    def get_queryset(self, request: HttpRequest) -> QuerySet[DocumentLine]:
        documents = visible_documents(request.user)
        return super().get_queryset(request).filter(document__in=documents.values("pk"))

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        return {}


class ReferenceInline(ReadOnlyInline):
    """What the document cites, in words, each linked to the cited Document when its mailbox received it."""

    model = DocumentReference
    fk_name = "document"
    fields = ("line", "type_display", "ref_folio", "ref_date", "reason_display", "reason", "target_link")
    readonly_fields = fields
    verbose_name_plural = _("references (the documents this one cites)")

    def get_queryset(self, request):
        # the target is linked when it is a document of this one's mailbox, which the user may see
        queryset = super().get_queryset(request).select_related("document", "target")
        same_mailbox = Document.objects.filter(pk=OuterRef("target_id"), mailbox_id=OuterRef("document__mailbox_id"))
        if (ids := visible_mailbox_ids(request.user)) is not None:
            same_mailbox = same_mailbox.filter(mailbox_id__in=ids)
        return queryset.annotate(_target_visible=Exists(same_mailbox))

    @admin.display(description=_("type"))
    def type_display(self, obj: DocumentReference) -> str:
        return reference_type_label(obj.ref_type)

    @admin.display(description=_("code (CodRef)"))
    def reason_display(self, obj: DocumentReference) -> str:
        return reason_label(obj.code) or EMPTY

    @admin.display(description=_("cited document"))
    def target_link(self, obj: DocumentReference) -> str:
        if obj.target is not None and getattr(obj, "_target_visible", False):
            return _admin_link(obj.target, document_label(obj.target))
        if obj.ref_type.strip().isascii() and obj.ref_type.strip().isdigit() and int(obj.ref_type) in DOC_TYPES:
            return gettext("not received")
        return EMPTY


class SourceInline(admin.TabularInline):
    """The copies: every XML the document arrived in, with its checks and what it says."""

    model = DocumentSource
    fields = ("attachment_link", "arrival", "ted_display", "signature_display", "chosen", "content_display")
    readonly_fields = fields
    extra = 0
    can_delete = False
    classes = ("document-copies",)
    verbose_name_plural = _("copies (the XML files this document arrived in)")

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("document", "attachment__message")
        return limit_to_user(queryset, request.user, mailbox_field="attachment__message__mailbox_id")

    def get_formset(self, request, obj=None, **kwargs):
        """Which fields the copies the user sees differ in, for every row to mark them."""
        contents = self.get_queryset(request).filter(document=obj).values_list("content", flat=True)
        self.differing = differing_fields(contents) if obj is not None else []
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description=_("XML attachment and e-mail"))
    def attachment_link(self, obj: DocumentSource) -> str:
        message = obj.attachment.message
        sender = format_html("<br>{} {}", gettext("sent by"), truncated(message.sender, 60)) if message.sender else ""
        return format_html(
            '{}<br><small class="copy-mail">{}{}</small>',
            _admin_link(obj.attachment, obj.attachment.filename),
            _admin_link(message, truncated(message.subject or gettext("(no subject)"), 80)),
            sender,
        )

    @admin.display(description=_("arrived"))
    def arrival(self, obj: DocumentSource) -> str:
        received = obj.attachment.message.received_at or obj.created_at
        return date_format(localtime(received), "SHORT_DATETIME_FORMAT")

    @admin.display(description=_("electronic stamp (TED)"))
    def ted_display(self, obj: DocumentSource) -> str:
        return check_sentence(TED_LABELS, obj.ted, obj.ted_error)

    @admin.display(description=_("signature"))
    def signature_display(self, obj: DocumentSource) -> str:
        return check_sentence(SIGNATURE_LABELS, obj.signature, obj.signature_error)

    @admin.display(description=_("what it says"))
    def content_display(self, obj: DocumentSource) -> str:
        return copy_content(obj, getattr(self, "differing", []))

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def rows_present(document: Document, request: HttpRequest) -> dict[type[Model], bool]:
    """Which of the document's row tables have rows (for the user: cesiones of their mailboxes), in one query."""
    assignments = limit_to_user(
        DocumentAssignment.objects.filter(document_id=OuterRef("pk")),
        request.user,
        mailbox_field="attachment__message__mailbox_id",
    )
    responses = limit_to_user(
        DocumentResponse.objects.filter(document_id=OuterRef("pk")),
        request.user,
        mailbox_field="attachment__message__mailbox_id",
    )
    models: dict[str, tuple[type[Model], QuerySet]] = {
        "has_lines": (DocumentLine, DocumentLine.objects.filter(document_id=OuterRef("pk"))),
        "has_discounts": (DocumentDiscount, DocumentDiscount.objects.filter(document_id=OuterRef("pk"))),
        "has_taxes": (DocumentTax, DocumentTax.objects.filter(document_id=OuterRef("pk"))),
        "has_payments": (DocumentPayment, DocumentPayment.objects.filter(document_id=OuterRef("pk"))),
        "has_references": (DocumentReference, DocumentReference.objects.filter(document_id=OuterRef("pk"))),
        "has_assignments": (DocumentAssignment, assignments),
        "has_responses": (DocumentResponse, responses),
    }
    row: dict[str, Any] = (
        Document.objects.filter(pk=document.pk)
        .annotate(**{name: Exists(rows) for name, (_model, rows) in models.items()})
        .values(*models)
        .get()
    )
    return {model: bool(row[name]) for name, (model, _rows) in models.items()}
