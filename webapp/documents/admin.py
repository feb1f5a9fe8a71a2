"""Admin over documents: read-only (the pipeline writes them), searchable, downloadable as a ZIP."""

from __future__ import annotations

import datetime as dt
from typing import cast

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast, Substr
from django.http import HttpRequest
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pipeline.dte.kinds import DOC_TYPES, Family, kind_of
from pipeline.dte.rut import format_rut, parse_rut
from webapp.inbox.admin import EMPTY, MailboxScoped, ReadOnlyAdmin, _admin_link, cut
from webapp.inbox.admin_scoping import MailboxFilter
from webapp.inbox.search import whole_number

from .admin_claims import ClaimDeadlineFilter, ClaimsAdmin, ClaimStateFilter, DecisionInline
from .admin_filters import (
    AddsUpFilter,
    AmountRangeFilter,
    AssignedFilter,
    ConflictFilter,
    CurrencyFilter,
    DocTypeFilter,
    DueDateRangeFilter,
    IssueDateRangeFilter,
    IssuerFilter,
    KindFilter,
    PaymentFormFilter,
    ReceivedDateRangeFilter,
    ReceiverFilter,
    SignatureFilter,
    TedFilter,
)
from .admin_money import (
    amounts_table,
    currency_name,
    decimal_cl,
    is_foreign,
    list_total,
    notices,
    totals_bar,
)
from .admin_responses import DocumentResponseInline
from .admin_rows import (
    AssignmentInline,
    DiscountInline,
    LineInline,
    PaymentInline,
    ReferenceInline,
    SourceInline,
    TaxInline,
    rows_present,
)
from .admin_trust import SIGNATURE_LABELS, TED_LABELS, check_sentence, comparison, trust_mark
from .exports import DocumentExports
from .models import Document, XmlClassification
from .reference_labels import document_label, reason_label
from .services.printable_requests import printable_offered
from .totals import Totals, document_totals
from .views import visible_documents, zip_response


class DocumentQuerySet(QuerySet[Document]):
    """The list's documents; the date hierarchy's years read natively on SQLite."""

    def dates(self, field_name, kind, order="ASC"):
        """On SQLite, the years without its date_trunc, a Python function called on every row (0.2 s at
        100,000 documents): a date is stored there as ISO text, its year the first 4 characters."""
        if kind != "year" or connections[self.db].vendor != "sqlite":
            return super().dates(field_name, kind, order)
        years = (
            self.order_by()
            .filter(**{f"{field_name}__isnull": False})
            .annotate(year_text=Substr(Cast(field_name, CharField()), 1, 4))
            .values_list("year_text", flat=True)
            .distinct()
        )
        return sorted((dt.date(int(year), 1, 1) for year in years), reverse=order == "DESC")


class TotalsPaginator(Paginator):
    """Pages of the filtered list counted by its totals' own aggregate: one pass over the list, not two."""

    @cached_property
    def totals(self) -> Totals:
        return document_totals(cast(QuerySet[Document], self.object_list))

    @cached_property
    def count(self) -> int:
        return self.totals.count


@admin.register(Document)
class DocumentAdmin(DocumentExports, ClaimsAdmin, ReadOnlyAdmin):
    change_list_template = "admin/documents/document/change_list.html"
    change_form_template = "admin/documents/document/change_form.html"
    list_display = (
        "thumbnail",
        "type_display",
        "folio",
        "issuer_display",
        "dates",
        "total_display",
        "trust_display",
        "claim_deadline_display",
    )
    list_display_links = ("folio",)
    list_filter = (
        IssuerFilter,
        KindFilter,
        DocTypeFilter,
        IssueDateRangeFilter,
        ReceivedDateRangeFilter,
        AmountRangeFilter,
        ReceiverFilter,
        ("mailbox", MailboxFilter),
        DueDateRangeFilter,
        AddsUpFilter,
        PaymentFormFilter,
        CurrencyFilter,
        AssignedFilter,
        TedFilter,
        SignatureFilter,
        ConflictFilter,
        "printable_status",
        "issuer_rut_valid",
        ClaimDeadlineFilter,
        ClaimStateFilter,
    )
    date_hierarchy = "issue_date"
    search_fields = ("issuer_name", "receiver_name")  # plus folio and RUT: get_search_results
    search_help_text = _("Folio, RUT (with or without dots) or business name.")
    list_select_related = ("xml_attachment", "pdf_attachment")
    list_per_page = 50
    paginator = TotalsPaginator
    show_full_result_count = False  # a second COUNT over every document the user sees, for "(N total)"
    actions = ("download_zip",)
    inlines = (
        LineInline,
        DiscountInline,
        TaxInline,
        PaymentInline,
        AssignmentInline,
        ReferenceInline,
        DocumentResponseInline,
        SourceInline,
        DecisionInline,
    )
    readonly_fields = (
        "preview",
        "files",
        "issuer_rut_display",
        "receiver_rut_display",
        "amounts",
        "foreign_currency_display",
        "exchange_rate_display",
        "adds_up_display",
        "referenced_by_links",
        "ted_display",
        "signature_display",
        "conflict_display",
    )

    def get_fieldsets(self, request: HttpRequest, obj: Document | None = None):
        kind = kind_of(obj.doc_type) if obj is not None else None
        buyer = kind is not None and kind.issued_by_buyer
        fieldsets: list[tuple] = [
            (None, {"fields": ("preview", "files", "doc_type", "type_name", "folio", "issue_date")}),
            (
                _("Issuer (the buyer)") if buyer else _("Issuer"),
                {"fields": ("issuer_rut_display", "issuer_rut_valid", "issuer_rut_error", "issuer_name")},
            ),
            (
                _("Receiver (the seller)") if buyer else _("Receiver"),
                {"fields": ("receiver_rut_display", "receiver_rut_valid", "receiver_name")},
            ),
            (_("Amounts"), {"fields": ("amounts", "adds_up_display", "line_count")}),
        ]
        if obj is not None and obj.referenced_by.filter(document__mailbox_id=obj.mailbox_id).exists():
            fieldsets.append((_("Cited by"), {"fields": ("referenced_by_links",)}))
        if obj is not None and is_foreign(obj):
            fieldsets.append((_("Foreign currency"), {"fields": ("foreign_currency_display", "exchange_rate_display")}))
        fieldsets.extend(self.claim_fieldsets(request, obj))
        fieldsets.append((_("Genuineness"), {"fields": ("ted_display", "signature_display", "conflict_display")}))
        fieldsets.append((_("Payment"), {"fields": ("payment_form", "due_date")}))
        if kind is not None and kind.family == Family.GUIDE:
            fieldsets.append((_("Dispatch"), {"fields": ("transfer_kind",)}))
        fieldsets.append(
            (
                _("Pipeline"),
                {
                    "classes": ("collapse",),
                    "fields": (
                        "resolution_number",
                        "resolution_date",
                        "printable_status",
                        "printable_error",
                        "created_at",
                        "updated_at",
                    ),
                },
            )
        )
        return fieldsets

    def get_inline_instances(self, request: HttpRequest, obj: Document | None = None):
        """Only the tables the document has rows for: an invoice without discounts shows no empty table."""
        instances = super().get_inline_instances(request, obj)
        if obj is None:
            return instances
        present = rows_present(obj, request)
        return [inline for inline in instances if present.get(inline.model, True)]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        queryset = super().get_queryset(request)
        queryset = DocumentQuerySet(model=queryset.model, query=queryset.query, using=queryset.db)
        return visible_documents(request.user, queryset)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context is not None and "cl" in context:
            changelist = context["cl"]
            counted = changelist.paginator.totals if isinstance(changelist.paginator, TotalsPaginator) else None
            context["totals_bar"] = totals_bar(changelist.queryset, counted)
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            assignments = list(AssignmentInline(self.model, self.admin_site).get_queryset(request).filter(document=obj))
            context["document_notices"] = notices(obj, assignments)
            if obj.conflict:
                copies = SourceInline(self.model, self.admin_site).get_queryset(request).filter(document=obj)
                context["copies_conflict"] = comparison(list(copies.select_related("attachment")))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return queryset, may_have_duplicates
        extra = Q()
        if (folio := whole_number(term)) is not None:
            extra |= Q(folio=folio)
        rut = parse_rut(term)
        if rut.normalized and "-" in rut.normalized:
            extra |= Q(issuer_rut=rut.normalized) | Q(receiver_rut=rut.normalized)
        body = term.replace(".", "").split("-")[0]
        if (number := whole_number(body)) is not None and len(body) >= 6:  # a RUT without its check digit
            extra |= Q(issuer_rut__startswith=f"{number}-") | Q(receiver_rut__startswith=f"{number}-")
        if extra:
            # the extra matches come from the user's documents only, never from every mailbox
            queryset = queryset | self.get_queryset(request).filter(extra)
        return queryset, may_have_duplicates

    @admin.action(description=_("Download selected documents as a ZIP"), permissions=["view"])
    def download_zip(self, request: HttpRequest, queryset: QuerySet[Document]):
        return zip_response(queryset)

    @admin.display(description=_("preview"))
    def thumbnail(self, obj: Document) -> str:
        if not printable_offered(obj):  # a printable not made yet is drawn when its thumbnail is asked for
            return EMPTY
        return format_html(
            '<img class="thumb" src="{}" alt="{}" loading="lazy" width="64">',
            reverse("documents:preview", args=[obj.pk]),
            obj,
        )

    @admin.display(description=_("preview"))
    def preview(self, obj: Document) -> str:
        if not printable_offered(obj):
            return obj.printable_error or gettext("no printable yet")
        return format_html(
            '<a href="{}"><img src="{}" alt="{}" width="320" style="border:1px solid #ccc"></a>',
            reverse("documents:printable_download", args=[obj.pk]),
            reverse("documents:preview", args=[obj.pk]),
            obj,
        )

    @admin.display(description=_("files"))
    def files(self, obj: Document) -> str:
        """The XML (downloaded, and its attachment's page), the supplier's PDF and our printable, each named."""
        download = gettext("Download")
        rows = []
        if (xml := obj.xml_attachment) is not None:
            links = format_html(
                '<a href="{}">{}</a> · {}',
                reverse("documents:xml_download", args=[obj.pk]),
                download,
                _admin_link(xml, gettext("attachment %(name)s") % {"name": xml.filename}),
            )
            rows.append(("files-xml", gettext("Original XML"), links))
        if (pdf := obj.pdf_attachment) is not None:
            links = format_html(
                '<a href="{}">{}</a> · {}',
                reverse("inbox:attachment_download", args=[pdf.pk]),
                download,
                _admin_link(pdf, gettext("attachment %(name)s") % {"name": pdf.filename}),
            )
        else:
            links = format_html("{}", gettext("The e-mail brought none."))
        rows.append(("files-supplier-pdf", gettext("Supplier's PDF"), links))
        if printable_offered(obj):
            links = format_html('<a href="{}">{}</a>', reverse("documents:printable_download", args=[obj.pk]), download)
        else:
            links = format_html("{}", obj.printable_error or gettext("no printable yet"))
        rows.append(("files-printable", gettext("Printable (ours)"), links))
        return format_html(
            '<ul class="document-files">{}</ul>',
            format_html_join("", '<li class="{}"><strong>{}</strong>: {}</li>', rows),
        )

    @admin.display(description=_("type"), ordering="doc_type")
    def type_display(self, obj: Document) -> str:
        name = obj.type_name or DOC_TYPES.get(obj.doc_type, "")
        return format_html("<b>{}</b> {}", obj.doc_type, cut(name.removesuffix(" electrónica"), "narrow"))

    @admin.display(description=_("issuer"), ordering="issuer_name")
    def issuer_display(self, obj: Document) -> str:
        """Name and RUT; a RUT that is not valid says so beside it (its own column did not fit 1366 px)."""
        if obj.issuer_rut_valid:
            return format_html("{}<br><small>{}</small>", cut(obj.issuer_name), format_rut(obj.issuer_rut))
        return format_html(
            '{}<br><small>{} <span class="check-invalid" title="{}">{}</span></small>',
            cut(obj.issuer_name),
            obj.issuer_rut,
            obj.issuer_rut_error,
            gettext("invalid RUT"),
        )

    @admin.display(description=_("issuer RUT"), ordering="issuer_rut")
    def issuer_rut_display(self, obj: Document) -> str:
        return format_rut(obj.issuer_rut)

    @admin.display(description=_("receiver RUT"))
    def receiver_rut_display(self, obj: Document) -> str:
        return format_rut(obj.receiver_rut)

    @admin.display(description=_("issue date"), ordering="issue_date")
    def dates(self, obj: Document) -> str:
        """The issue date, and the due date under it: one column where two would not fit at 1366 px."""
        issued = date_format(obj.issue_date) if obj.issue_date else EMPTY
        if obj.due_date is None:
            return issued
        due = gettext("due %(date)s") % {"date": date_format(obj.due_date)}
        return format_html('{}<br><small class="due">{}</small>', issued, due)

    @admin.display(description=_("verification"))
    def trust_display(self, obj: Document) -> str:
        return trust_mark(obj)

    @admin.display(description=_("electronic stamp (TED)"))
    def ted_display(self, obj: Document) -> str:
        return check_sentence(TED_LABELS, obj.ted, "")

    @admin.display(description=_("signature"))
    def signature_display(self, obj: Document) -> str:
        return check_sentence(SIGNATURE_LABELS, obj.signature, "")

    @admin.display(description=_("conflicting copies"))
    def conflict_display(self, obj: Document) -> str:
        if not obj.conflict:
            return gettext("No")
        return format_html('<span class="check-invalid">{}</span>', gettext("Yes: its copies do not match"))

    @admin.display(description=_("total"), ordering="total")
    def total_display(self, obj: Document) -> str:
        return list_total(obj)

    @admin.display(description=_("amounts"))
    def amounts(self, obj: Document) -> str:
        return amounts_table(obj)

    @admin.display(description=_("adds up"))
    def adds_up_display(self, obj: Document) -> str:
        if obj.adds_up is None:
            return gettext("Not checked")
        return gettext("Adds up") if obj.adds_up else gettext("Does not add up")

    @admin.display(description=_("currency"))
    def foreign_currency_display(self, obj: Document) -> str:
        name = obj.foreign_currency_name or currency_name(obj.foreign_currency)
        return f"{name} ({obj.foreign_currency})"

    @admin.display(description=_("exchange rate"))
    def exchange_rate_display(self, obj: Document) -> str:
        if obj.exchange_rate is None:
            return EMPTY
        return gettext("%(rate)s pesos per %(currency)s") % {
            "rate": decimal_cl(obj.exchange_rate),
            "currency": obj.foreign_currency,
        }

    @admin.display(description=_("referenced by"))
    def referenced_by_links(self, obj: Document) -> str:
        """The documents that cite this one, and why: a credit note that voids it, one that corrects amounts."""
        # a reference links documents of one mailbox only (services/documents.py): the page's own
        refs = obj.referenced_by.filter(document__mailbox_id=obj.mailbox_id).select_related("document")
        rows = [
            (
                _admin_link(ref.document, document_label(ref.document)),
                f": {why}" if (why := reason_label(ref.code)) else "",
            )
            for ref in refs.order_by("document__issue_date", "document_id")
        ]
        if not rows:
            return EMPTY
        return format_html('<ul class="referenced-by">{}</ul>', format_html_join("", "<li>{}{}</li>", rows))


@admin.register(XmlClassification)
class XmlClassificationAdmin(MailboxScoped, ReadOnlyAdmin):
    mailbox_field = "attachment__message__mailbox_id"

    list_display = (
        "attachment_link",
        "kind",
        "status",
        "summary_display",
        "document_count",
        "short_error",
        "parsed_at",
    )
    list_filter = ("kind", "status", "format")
    search_fields = ("attachment__filename", "summary", "error")
    list_select_related = ("attachment",)

    @admin.display(description=_("attachment"), ordering="attachment")
    def attachment_link(self, obj: XmlClassification) -> str:
        return _admin_link(obj.attachment, cut(obj.attachment.filename, "narrow"))

    @admin.display(description=_("summary"), ordering="summary")
    def summary_display(self, obj: XmlClassification) -> str:
        return cut(obj.summary)

    @admin.display(description=_("error"))
    def short_error(self, obj: XmlClassification) -> str:
        return cut(obj.error)
