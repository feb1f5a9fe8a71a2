"""The purchase register in the admin: the imports (with the upload page) and the entries, read-only.

Both lists are limited to the user's mailboxes (MailboxScoped): an import made without a mailbox,
and its entries, are seen only by those who see every mailbox.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pipeline.dte.formatting import clp
from pipeline.dte.kinds import DOC_TYPES
from pipeline.dte.rut import format_rut, parse_rut
from webapp.inbox.admin import cut, under
from webapp.inbox.admin_scoping import EMPTY, MailboxFilter, MailboxScoped, ReadOnlyAdmin, visible_mailboxes
from webapp.inbox.models import Mailbox
from webapp.inbox.search import with_folio_or_rut
from webapp.inbox.services.access import visible_mailbox_ids

from .models import RcvEntry, RcvImport
from .services.imports import RcvImportRefused, rcv_import
from .uploads import max_upload_bytes, upload_too_large


class UploadForm(forms.Form):
    file = forms.FileField(label=_("file"), help_text=_("The CSV the SII gives for the purchase register."))
    mailbox = forms.ModelChoiceField(
        label=_("mailbox"),
        queryset=Mailbox.objects.none(),
        help_text=_("Users of this mailbox see the entries; without one only those who see every mailbox do."),
    )
    receiver = forms.CharField(
        label=_("receiver RUT"), required=False, help_text=_("When the file name is not the SII's.")
    )
    period = forms.RegexField(
        label=_("period"),
        regex=r"^\d{4}-(0[1-9]|1[0-2])$",
        required=False,
        help_text=_("YYYY-MM, when the file name is not the SII's."),
    )

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["mailbox"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = visible_mailboxes(request).order_by("name")
        # a user limited to some mailboxes imports into one of them: an import without a mailbox would hide it
        field.required = visible_mailbox_ids(request.user) is not None
        field.empty_label = None if field.required else gettext("(none: only who sees every mailbox)")

    def clean_receiver(self) -> str:
        text = self.cleaned_data["receiver"].strip()
        if text and not (rut := parse_rut(text)).valid:
            raise forms.ValidationError(rut.reason)
        return text


@admin.register(RcvImport)
class RcvImportAdmin(MailboxScoped, admin.ModelAdmin):
    change_list_template = "admin/register/rcvimport/change_list.html"
    list_display = (
        "imported_at",
        "filename_display",
        "register",
        "period",
        "receiver",
        "rows_display",
        "imported_by",
    )
    list_display_links = ("imported_at",)
    list_filter = ("register", "period", "receiver_rut", ("mailbox", MailboxFilter))
    search_fields = ("filename", "receiver_rut")
    date_hierarchy = "imported_at"
    fields = (
        "filename",
        "register",
        "receiver_rut",
        "period",
        "mailbox",
        "imported_at",
        "imported_by",
        "sha256",
        "rows_read",
        "rows_created",
        "rows_updated",
        "rows_unchanged",
        "rows_failed",
        "refused_rows",
    )
    readonly_fields = fields

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=_("receiver RUT"), ordering="receiver_rut")
    def receiver(self, obj: RcvImport) -> str:
        return format_rut(obj.receiver_rut)

    @admin.display(description=_("file"), ordering="filename")
    def filename_display(self, obj: RcvImport) -> str:
        return under(cut(obj.filename), str(obj.mailbox) if obj.mailbox_id else "")

    @admin.display(description=_("rows"))
    def rows_display(self, obj: RcvImport) -> str:
        counted = gettext("%(new)d new, %(changed)d changed, %(unchanged)d unchanged") % {
            "new": obj.rows_created,
            "changed": obj.rows_updated,
            "unchanged": obj.rows_unchanged,
        }
        refused = gettext("%(count)d refused") % {"count": obj.rows_failed} if obj.rows_failed else ""
        return under(counted, format_html('<span class="failed-count">{}</span>', refused) if refused else "")

    @admin.display(description=_("refused rows"))
    def refused_rows(self, obj: RcvImport) -> str:
        if not obj.problems:
            return gettext("none")
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", ((p["line"], p["reason"]) for p in obj.problems))
        unlisted = obj.rows_failed - len(obj.problems)
        more = (
            gettext("%(count)d more refused rows are counted, not listed.") % {"count": unlisted}
            if unlisted > 0
            else ""
        )
        return format_html(
            '<table id="refused-rows"><thead><tr><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>{}',
            gettext("line"),
            gettext("reason"),
            rows,
            more,
        )

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """The upload page: import one file, then show what it did on the import's page."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None, request=request)
        refused = ""
        if upload_too_large(request):  # cut off as it came in, the form's fields with it: a fresh form, and why
            form = UploadForm(request=request)
            limit = {"size": max(1, max_upload_bytes() // (1024 * 1024))}
            refused = gettext("The file was not imported: it is larger than %(size)d MB.") % limit
        elif request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                record = rcv_import(
                    upload,
                    filename=upload.name or "",
                    receiver_rut=form.cleaned_data["receiver"] or None,
                    period=form.cleaned_data["period"] or None,
                    mailbox=form.cleaned_data["mailbox"],
                    user=request.user,
                )
            except RcvImportRefused as error:
                form.add_error(None, gettext("The file was not imported: %(reason)s") % {"reason": error})
            else:
                self.message_user(
                    request, _summary(record), messages.WARNING if record.rows_failed else messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:register_rcvimport_change", args=[record.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Import purchase register"),
            "form": form,
            "refused": refused,
            "intro": gettext(
                "The CSV of the purchase register as the SII gives it (registro, pendiente, no incluir or "
                "reclamado), separated by semicolons, in UTF-8 or ISO-8859-1. The receiver and the period are "
                "read from the SII's file name RCV_COMPRA_<ESTADO>_<RUT>_<YYYYMM>.csv when not given. Importing "
                "the same file again changes nothing."
            ),
        }
        return TemplateResponse(request, "admin/register/rcvimport/upload.html", context)


def _summary(record: RcvImport) -> str:
    return gettext(
        "%(file)s imported: %(new)d new, %(changed)d changed, %(unchanged)d unchanged, %(refused)d refused."
    ) % {
        "file": record.filename,
        "new": record.rows_created,
        "changed": record.rows_updated,
        "unchanged": record.rows_unchanged,
        "refused": record.rows_failed,
    }


@admin.register(RcvEntry)
class RcvEntryAdmin(MailboxScoped, ReadOnlyAdmin):
    list_display = (
        "issuer_display",
        "type_display",
        "folio",
        "issue_date",
        "total_display",
        "received_display",
        "register",
    )
    list_filter = ("register", "period", "receiver_rut", "doc_type", ("mailbox", MailboxFilter))
    search_fields = ("issuer_name",)  # plus folio and RUT: get_search_results
    list_select_related = ("mailbox",)

    @admin.display(description=_("issuer"), ordering="issuer_name")
    def issuer_display(self, obj: RcvEntry) -> str:
        return under(cut(obj.issuer_name), format_rut(obj.issuer_rut))

    @admin.display(description=_("type"), ordering="doc_type")
    def type_display(self, obj: RcvEntry) -> str:
        name = DOC_TYPES.get(obj.doc_type, "").removesuffix(" electrónica")
        return format_html("<b>{}</b> {}", obj.doc_type, cut(name, "narrow"))

    @admin.display(description=_("total"), ordering="total")
    def total_display(self, obj: RcvEntry) -> str:
        return clp(obj.total)

    @admin.display(description=_("received by the SII"), ordering="received_at")
    def received_display(self, obj: RcvEntry) -> str:
        """The SII's reception and, under it, the claim deadline it starts (Ley 19.983)."""
        if obj.received_at is None:
            return EMPTY
        deadline = gettext("deadline %(date)s") % {"date": display_for_value(obj.claim_deadline, EMPTY)}
        return under(display_for_value(obj.received_at, EMPTY), deadline)

    @admin.display(description=_("receiver RUT"), ordering="receiver_rut")
    def receiver(self, obj: RcvEntry) -> str:
        return format_rut(obj.receiver_rut)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        searched, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        found = with_folio_or_rut(searched, queryset, search_term, rut_fields=("issuer_rut", "receiver_rut"))
        return found, may_have_duplicates


# The reconciliation page (a proxy of RcvEntry) registers itself when loaded.
from . import admin_reconcile  # noqa: E402, F401
