"""A Document's money as rows: its lines, other taxes, global discounts, instalments and cesiones.

Written by services/money_rows.py and services/assignments.py from the primary XML; shown read-only.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from webapp.inbox.models import Attachment

from .models import Document


class DocumentLine(models.Model):
    """A `Detalle`, in the document's own currency.

    Amounts in a document's own currency are N18 with up to 4 decimals in the SII's formats (22, 4);
    quantities and unit prices 18 digits with up to 6 (24, 6).
    """

    document = models.ForeignKey(Document, verbose_name=_("document"), on_delete=models.CASCADE, related_name="lines")
    number = models.PositiveIntegerField(_("line"))
    code = models.CharField(_("code"), max_length=40, blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=24, decimal_places=6, null=True, blank=True)
    unit = models.CharField(_("unit"), max_length=10, blank=True)
    unit_price = models.DecimalField(_("unit price"), max_digits=24, decimal_places=6, null=True, blank=True)
    discount_percent = models.DecimalField(_("discount %"), max_digits=7, decimal_places=2, null=True, blank=True)
    discount_amount = models.DecimalField(_("discount"), max_digits=22, decimal_places=4, null=True, blank=True)
    surcharge_percent = models.DecimalField(_("surcharge %"), max_digits=7, decimal_places=2, null=True, blank=True)
    surcharge_amount = models.DecimalField(_("surcharge"), max_digits=22, decimal_places=4, null=True, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=22, decimal_places=4, null=True, blank=True)
    exemption_code = models.PositiveSmallIntegerField(_("exemption code"), null=True, blank=True, help_text=_("IndExe"))
    additional_tax_code = models.PositiveSmallIntegerField(
        _("additional tax code"), null=True, blank=True, help_text=_("CodImpAdic")
    )

    class Meta:
        ordering = ["document_id", "number"]
        constraints = [models.UniqueConstraint(fields=["document", "number"], name="unique_document_line")]
        verbose_name = _("line")
        verbose_name_plural = _("lines")

    def __str__(self) -> str:
        return f"{self.document} #{self.number} {self.name}"


class DocumentTax(models.Model):
    """An `ImptoReten` row: an additional tax (adds) or a retention (withheld, subtracts)."""

    document = models.ForeignKey(Document, verbose_name=_("document"), on_delete=models.CASCADE, related_name="taxes")
    code = models.PositiveSmallIntegerField(_("code"), help_text=_("TipoImp"))
    name = models.CharField(_("name"), max_length=120)
    rate = models.DecimalField(_("rate"), max_digits=7, decimal_places=2, null=True, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=22, decimal_places=4, null=True, blank=True)
    withheld = models.BooleanField(_("withheld"), default=False)

    class Meta:
        ordering = ["document_id", "id"]
        verbose_name = _("other tax or retention")
        verbose_name_plural = _("other taxes and retentions")

    def __str__(self) -> str:
        return f"{self.document} {self.code} {self.name}"


class DocumentDiscount(models.Model):
    """A `DscRcgGlobal`: a global discount or surcharge."""

    document = models.ForeignKey(
        Document, verbose_name=_("document"), on_delete=models.CASCADE, related_name="discounts"
    )
    line = models.PositiveIntegerField(_("line"))
    surcharge = models.BooleanField(_("surcharge"), default=False)
    description = models.CharField(_("description"), max_length=200, blank=True)
    percent = models.BooleanField(_("in percent"), default=False)
    value = models.DecimalField(_("value"), max_digits=22, decimal_places=4)
    exemption_code = models.PositiveSmallIntegerField(
        _("exemption code"), null=True, blank=True, help_text=_("IndExeDR")
    )
    amount = models.DecimalField(_("amount"), max_digits=22, decimal_places=4, null=True, blank=True)

    class Meta:
        ordering = ["document_id", "line"]
        constraints = [models.UniqueConstraint(fields=["document", "line"], name="unique_document_discount")]
        verbose_name = _("global discount or surcharge")
        verbose_name_plural = _("global discounts and surcharges")

    def __str__(self) -> str:
        return f"{self.document} {'R' if self.surcharge else 'D'}{self.line}"


class DocumentPayment(models.Model):
    """An instalment of `MntPagos`."""

    document = models.ForeignKey(
        Document, verbose_name=_("document"), on_delete=models.CASCADE, related_name="payments"
    )
    number = models.PositiveIntegerField(_("instalment"))
    due = models.DateField(_("due"), null=True, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=22, decimal_places=4, null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["document_id", "number"]
        constraints = [models.UniqueConstraint(fields=["document", "number"], name="unique_document_payment")]
        verbose_name = _("instalment")
        verbose_name_plural = _("instalments")

    def __str__(self) -> str:
        return f"{self.document} {self.number}: {self.due}"


class DocumentAssignment(models.Model):
    """A `Cesion` read from an AEC: the invoice (issuer, type, folio) sold to an assignee.

    `document` is set when that invoice is (or later becomes) known; the key fields say which it is
    until then.
    """

    attachment = models.ForeignKey(
        Attachment, verbose_name=_("AEC file"), on_delete=models.CASCADE, related_name="document_assignments"
    )
    document = models.ForeignKey(
        Document,
        verbose_name=_("document"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assignments",
    )
    country = models.CharField(_("country"), max_length=2, default="CL")
    issuer_rut = models.CharField(_("issuer RUT"), max_length=20)
    doc_type = models.PositiveSmallIntegerField(_("type"))
    folio = models.PositiveBigIntegerField(_("folio"))
    sequence = models.PositiveSmallIntegerField(_("sequence"), help_text=_("SeqCesion"))
    assignor_rut = models.CharField(_("assignor RUT"), max_length=20, blank=True)
    assignor_name = models.CharField(_("assignor"), max_length=200, blank=True)
    assignee_rut = models.CharField(_("assignee RUT"), max_length=20, blank=True)
    assignee_name = models.CharField(_("assignee"), max_length=200, blank=True)
    assignee_email = models.CharField(_("assignee e-mail"), max_length=200, blank=True)
    amount = models.BigIntegerField(_("amount assigned"), null=True, blank=True)
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    last_due_date = models.DateField(_("last due date"), null=True, blank=True)

    class Meta:
        ordering = ["document_id", "-sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["attachment", "country", "issuer_rut", "doc_type", "folio", "sequence"],
                name="unique_assignment_per_file",
            )
        ]
        indexes = [models.Index(fields=["country", "issuer_rut", "doc_type", "folio"])]
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")

    def __str__(self) -> str:
        return f"{self.doc_type}-{self.folio} {self.issuer_rut} -> {self.assignee_name or self.assignee_rut}"
