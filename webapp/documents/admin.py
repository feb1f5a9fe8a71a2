"""Admin over documents: read-only (the pipeline writes them), searchable, downloadable as a ZIP."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pipeline.dte.formatting import clp
from pipeline.dte.rut import format_rut, parse_rut
from webapp.inbox.admin import EMPTY, MailboxScoped, ReadOnlyAdmin, _admin_link, _short
from webapp.inbox.search import whole_number
from webapp.inbox.services.access import limit_to_user, visible_mailbox_ids

from .models import Document, DocumentReference, DocumentSource, XmlClassification
from .selectors import sources_of_mailboxes, with_own_files
from .views import visible_documents, zip_response

#: Issuers listed in the issuer filter (the most frequent first).
ISSUER_FILTER_LIMIT = 50


class IssuerFilter(admin.SimpleListFilter):
    title = _("issuer")
    parameter_name = "issuer"

    def lookups(self, request, model_admin):
        """The issuers of the documents the user may see, not of every mailbox's."""
        documents = model_admin.get_queryset(request).order_by("issuer_name")
        rows = documents.values_list("issuer_rut", "issuer_name").distinct()
        return [(rut, f"{name or '?'} ({format_rut(rut)})") for rut, name in rows[:ISSUER_FILTER_LIMIT]]

    def queryset(self, request, queryset):
        return queryset.filter(issuer_rut=self.value()) if self.value() else queryset


def _viewer_mailbox_ids(document: Document) -> set[int] | None:
    """The mailboxes of the user DocumentAdmin.get_object fetched `document` for; none if it did not."""
    return getattr(document, "_viewer_mailbox_ids", set())


def _viewer_sources(document: Document) -> QuerySet[DocumentSource]:
    ids = _viewer_mailbox_ids(document)
    return document.sources.all() if ids is None else document.sources.filter(pk__in=sources_of_mailboxes(ids))


class IssueDateRangeFilter(admin.ListFilter):
    """Issue date from / to (inclusive), as two date inputs."""

    title = _("issue date range")
    template = "admin/documents/date_range_filter.html"
    params = ("issue_date_from", "issue_date_to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.values: dict[str, dt.date | None] = {}
        for name in self.params:
            if name in params:
                value = params.pop(name)
                value = value[-1] if isinstance(value, list) else value
                try:
                    self.values[name] = dt.date.fromisoformat(value)
                except ValueError:
                    self.values[name] = None
        self.request = request

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return list(self.params)

    def queryset(self, request, queryset):
        if start := self.values.get("issue_date_from"):
            queryset = queryset.filter(issue_date__gte=start)
        if end := self.values.get("issue_date_to"):
            queryset = queryset.filter(issue_date__lte=end)
        return queryset

    def choices(self, changelist):
        keep = [(k, v) for k, v in changelist.params.items() if k not in self.params]
        yield {
            "hidden": [(k, v[-1] if isinstance(v, list) else v) for k, v in keep],
            "from": self.values.get("issue_date_from") or "",
            "to": self.values.get("issue_date_to") or "",
            "reset": changelist.get_query_string(remove=list(self.params)),
        }


class ReferenceInline(admin.TabularInline):
    model = DocumentReference
    fk_name = "document"
    fields = ("line", "ref_type", "ref_folio", "ref_date", "code", "reason", "target_link")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        # each row shows its document (in its name) and its target, if one of the user's mailboxes received it
        queryset = super().get_queryset(request).select_related("document", "target")
        ids = visible_mailbox_ids(request.user)
        if ids is None:
            return queryset.annotate(_target_visible=Value(True))
        received = sources_of_mailboxes(ids).filter(document_id=OuterRef("target_id"))
        return queryset.annotate(_target_visible=Exists(received))

    @admin.display(description=_("document"))
    def target_link(self, obj: DocumentReference) -> str:
        if obj.target is None or not getattr(obj, "_target_visible", False):
            return gettext("not received")
        return _admin_link(obj.target, str(obj.target))

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class SourceInline(admin.TabularInline):
    model = DocumentSource
    fields = ("attachment_link", "message_link", "position", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("sources (e-mails that carried this document)")

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("document", "attachment__message")
        return limit_to_user(queryset, request.user, mailbox_field="attachment__message__mailbox_id")

    @admin.display(description=_("XML attachment"))
    def attachment_link(self, obj: DocumentSource) -> str:
        return _admin_link(obj.attachment, obj.attachment.filename)

    @admin.display(description=_("e-mail"))
    def message_link(self, obj: DocumentSource) -> str:
        return _admin_link(obj.attachment.message, str(obj.attachment.message)[:80])

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdmin):
    list_display = (
        "thumbnail",
        "doc_type",
        "folio",
        "issuer_display",
        "issue_date",
        "total_display",
        "printable_status",
        "rut_flag",
    )
    list_display_links = ("folio",)
    list_filter = ("doc_type", IssuerFilter, IssueDateRangeFilter, "printable_status", "issuer_rut_valid")
    date_hierarchy = "issue_date"
    search_fields = ("issuer_name", "receiver_name")  # plus folio and RUT: get_search_results
    search_help_text = _("Folio, RUT (with or without dots) or business name.")
    list_select_related = ("xml_attachment", "pdf_attachment")
    list_per_page = 50
    actions = ("download_zip",)
    inlines = (ReferenceInline, SourceInline)
    fieldsets = (
        (None, {"fields": ("preview", "files", "doc_type", "type_name", "folio", "issue_date")}),
        (_("Issuer"), {"fields": ("issuer_rut_display", "issuer_rut_valid", "issuer_rut_error", "issuer_name")}),
        (_("Receiver"), {"fields": ("receiver_rut_display", "receiver_rut_valid", "receiver_name")}),
        (
            _("Amounts (CLP)"),
            {"fields": ("net_display", "exempt_display", "vat_display", "total_display", "line_count")},
        ),
        (
            _("Pipeline"),
            {
                "fields": (
                    "resolution_number",
                    "resolution_date",
                    "referenced_by_links",
                    "printable_status",
                    "printable_error",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )
    readonly_fields = (
        "preview",
        "files",
        "issuer_rut_display",
        "receiver_rut_display",
        "net_display",
        "exempt_display",
        "vat_display",
        "total_display",
        "referenced_by_links",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        return visible_documents(request.user, super().get_queryset(request))

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Document | None:
        """The document with the files the user may have; its page lists only what their mailboxes hold."""
        document = super().get_object(request, object_id, from_field)
        if document is None:
            return None
        ids = visible_mailbox_ids(request.user)
        (document,) = with_own_files([document], ids)
        document._viewer_mailbox_ids = ids  # type: ignore[attr-defined]
        return document

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
        return zip_response(queryset, mailbox_ids=visible_mailbox_ids(request.user))

    @admin.display(description=_("preview"))
    def thumbnail(self, obj: Document) -> str:
        if obj.printable_status != Document.PrintableStatus.READY:
            return EMPTY
        return format_html(
            '<img src="{}" alt="{}" loading="lazy" width="64" style="max-height:90px;object-fit:contain">',
            reverse("documents:preview", args=[obj.pk]),
            obj,
        )

    @admin.display(description=_("preview"))
    def preview(self, obj: Document) -> str:
        if obj.printable_status != Document.PrintableStatus.READY:
            return obj.printable_error or gettext("no printable yet")
        return format_html(
            '<a href="{}"><img src="{}" alt="{}" width="320" style="border:1px solid #ccc"></a>',
            reverse("documents:printable_download", args=[obj.pk]),
            reverse("documents:preview", args=[obj.pk]),
            obj,
        )

    @admin.display(description=_("files"))
    def files(self, obj: Document) -> str:
        links = []
        if obj.xml_attachment_id:
            links.append((reverse("documents:xml_download", args=[obj.pk]), gettext("Original XML")))
        if (pdf := obj.pdf_attachment) is not None:
            links.append(
                (
                    reverse("inbox:attachment_download", args=[pdf.pk]),
                    gettext("Supplier PDF (%(name)s)") % {"name": pdf.filename},
                )
            )
        if obj.printable_status == Document.PrintableStatus.READY:
            links.append((reverse("documents:printable_download", args=[obj.pk]), gettext("Printable PDF")))
        for source in _viewer_sources(obj).select_related("attachment"):
            links.append(
                (
                    reverse("inbox:attachment_download", args=[source.attachment_id]),
                    gettext("XML attachment #%(id)s (%(name)s)")
                    % {"id": source.attachment_id, "name": source.attachment.filename},
                )
            )
        if not links:
            return EMPTY
        return format_html("<ul>{}</ul>", format_html_join("", '<li><a href="{}">{}</a></li>', links))

    @admin.display(description=_("issuer"), ordering="issuer_name")
    def issuer_display(self, obj: Document) -> str:
        return format_html("{}<br><small>{}</small>", obj.issuer_name or EMPTY, format_rut(obj.issuer_rut))

    @admin.display(description=_("issuer RUT"), ordering="issuer_rut")
    def issuer_rut_display(self, obj: Document) -> str:
        return format_rut(obj.issuer_rut)

    @admin.display(description=_("receiver RUT"))
    def receiver_rut_display(self, obj: Document) -> str:
        return format_rut(obj.receiver_rut)

    @admin.display(description=_("RUT ok"), boolean=True, ordering="issuer_rut_valid")
    def rut_flag(self, obj: Document) -> bool:
        return obj.issuer_rut_valid

    @admin.display(description=_("total"), ordering="total")
    def total_display(self, obj: Document) -> str:
        return clp(obj.total)

    @admin.display(description=_("net"))
    def net_display(self, obj: Document) -> str:
        return clp(obj.net)

    @admin.display(description=_("exempt"))
    def exempt_display(self, obj: Document) -> str:
        return clp(obj.exempt)

    @admin.display(description=_("VAT"))
    def vat_display(self, obj: Document) -> str:
        return clp(obj.vat)

    @admin.display(description=_("referenced by"))
    def referenced_by_links(self, obj: Document) -> str:
        refs = obj.referenced_by.select_related("document")
        ids = _viewer_mailbox_ids(obj)
        if ids is not None:
            refs = refs.filter(document__in=sources_of_mailboxes(ids).values("document_id"))
        if not refs:
            return EMPTY
        return format_html_join(
            ", ", "{}", ((_admin_link(r.document, f"{r.document.type_name} {r.document.folio}"),) for r in refs)
        )


@admin.register(XmlClassification)
class XmlClassificationAdmin(MailboxScoped, ReadOnlyAdmin):
    mailbox_field = "attachment__message__mailbox_id"

    list_display = (
        "attachment_link",
        "kind",
        "status",
        "summary",
        "document_count",
        "resolution_number",
        "resolution_date",
        "short_error",
        "parsed_at",
    )
    list_filter = ("kind", "status", "format")
    search_fields = ("attachment__filename", "summary", "error")
    list_select_related = ("attachment",)

    @admin.display(description=_("attachment"), ordering="attachment")
    def attachment_link(self, obj: XmlClassification) -> str:
        return _admin_link(obj.attachment, obj.attachment.filename)

    @admin.display(description=_("error"))
    def short_error(self, obj: XmlClassification) -> str:
        return _short(obj.error)
