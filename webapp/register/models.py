"""The SII purchase register (RCV, Registro de Compras): what the SII has registered a receiver bought.

Imported from the CSV the SII gives (services/imports.py), one RcvEntry per (receiver, issuer, type,
folio) and mailbox: a later import moves an entry (pendiente to registro or reclamado), never doubles
it. An import made for a mailbox is seen by that mailbox's users; one made without (by an operator,
`import_rcv` without `--mailbox`) only by those who see every mailbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from pipeline.dte.kinds import CLAIM_DAYS
from webapp.documents.models import DOC_TYPE_CHOICES
from webapp.inbox.models import Mailbox


class Register(models.TextChoices):
    """The SII's lists of a receiver's purchases, as its CSV download names them."""

    REGISTRO = "registro", _("Registered")
    PENDIENTE = "pendiente", _("Pending")
    NO_INCLUIR = "no_incluir", _("Not to be included")
    RECLAMADO = "reclamado", _("Claimed")


class RcvImport(models.Model):
    """One CSV file imported: what it was, who imported it, what it changed and which rows it refused."""

    mailbox = models.ForeignKey(
        Mailbox, verbose_name=_("mailbox"), null=True, blank=True, on_delete=models.CASCADE, related_name="rcv_imports"
    )
    receiver_rut = models.CharField(_("receiver RUT"), max_length=20, db_index=True)
    period = models.CharField(_("period"), max_length=7, db_index=True, help_text=_("YYYY-MM"))
    register = models.CharField(_("register"), max_length=20, choices=Register.choices)
    filename = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True, db_index=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("imported by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    rows_created = models.PositiveIntegerField(_("rows new"), default=0)
    rows_updated = models.PositiveIntegerField(_("rows changed"), default=0)
    rows_unchanged = models.PositiveIntegerField(_("rows unchanged"), default=0)
    rows_failed = models.PositiveIntegerField(_("rows refused"), default=0)
    #: Each refused row: {"line": file line number, "reason": why}; the rest were imported.
    problems = models.JSONField(_("problems"), default=list, blank=True)

    class Meta:
        ordering = ["-imported_at", "-id"]
        verbose_name = _("register import")
        verbose_name_plural = _("register imports")

    def __str__(self) -> str:
        return f"{self.filename} ({self.receiver_rut} {self.period})"


class RcvEntry(models.Model):
    """One document as the SII's purchase register has it. Amounts in pesos, as the CSV gives them."""

    mailbox = models.ForeignKey(
        Mailbox, verbose_name=_("mailbox"), null=True, blank=True, on_delete=models.CASCADE, related_name="rcv_entries"
    )
    receiver_rut = models.CharField(_("receiver RUT"), max_length=20, db_index=True)
    period = models.CharField(_("period"), max_length=7, db_index=True, help_text=_("YYYY-MM"))
    register = models.CharField(_("register"), max_length=20, choices=Register.choices, db_index=True)
    issuer_rut = models.CharField(_("issuer RUT"), max_length=20, db_index=True)
    issuer_name = models.CharField(_("issuer name"), max_length=200, blank=True)
    doc_type = models.PositiveSmallIntegerField(_("type"), choices=DOC_TYPE_CHOICES)
    folio = models.PositiveBigIntegerField(_("folio"))
    purchase_kind = models.CharField(_("purchase kind"), max_length=60, blank=True, help_text=_("Tipo Compra"))
    issue_date = models.DateField(_("issue date"), null=True, blank=True)
    received_at = models.DateTimeField(
        _("received by the SII"),
        null=True,
        blank=True,
        help_text=_("Fecha Recepcion: the claim deadline runs from it."),
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True, help_text=_("Fecha Acuse"))
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True, help_text=_("Fecha Reclamo"))
    exempt = models.BigIntegerField(_("exempt"), null=True, blank=True)
    net = models.BigIntegerField(_("net"), null=True, blank=True)
    vat_recoverable = models.BigIntegerField(_("recoverable VAT"), null=True, blank=True)
    vat_not_recoverable = models.BigIntegerField(_("non-recoverable VAT"), null=True, blank=True)
    vat_not_recoverable_code = models.PositiveSmallIntegerField(_("non-recoverable VAT code"), null=True, blank=True)
    total = models.BigIntegerField(_("total"), null=True, blank=True)
    fixed_asset_net = models.BigIntegerField(_("fixed asset net"), null=True, blank=True)
    fixed_asset_vat = models.BigIntegerField(_("fixed asset VAT"), null=True, blank=True)
    vat_common_use = models.BigIntegerField(_("common use VAT"), null=True, blank=True)
    tax_without_credit = models.BigIntegerField(_("tax without credit"), null=True, blank=True)
    vat_not_withheld = models.BigIntegerField(_("VAT not withheld"), null=True, blank=True)
    other_tax_code = models.PositiveSmallIntegerField(_("other tax code"), null=True, blank=True)
    other_tax_amount = models.BigIntegerField(_("other tax"), null=True, blank=True)
    other_tax_rate = models.DecimalField(_("other tax rate"), max_digits=12, decimal_places=6, null=True, blank=True)
    #: Columns of the CSV with no field here (tabacos, NCE o NDE…), by the SII's header name, when not blank.
    extra = models.JSONField(_("other columns"), default=dict, blank=True)
    last_import = models.ForeignKey(
        RcvImport, verbose_name=_("last import"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["receiver_rut", "period", "issuer_rut", "doc_type", "folio"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "receiver_rut", "issuer_rut", "doc_type", "folio"],
                condition=Q(mailbox__isnull=False),
                name="unique_rcv_entry_per_mailbox",
            ),
            models.UniqueConstraint(
                fields=["receiver_rut", "issuer_rut", "doc_type", "folio"],
                condition=Q(mailbox__isnull=True),
                name="unique_rcv_entry_without_mailbox",
            ),
        ]
        indexes = [models.Index(fields=["issuer_rut", "doc_type", "folio"], name="rcv_entry_sii_key")]
        verbose_name = _("register entry")
        verbose_name_plural = _("register entries")

    def __str__(self) -> str:
        return f"{self.doc_type}-{self.folio} {self.issuer_rut} ({self.get_register_display()})"

    @property
    def claim_deadline(self) -> datetime | None:
        """The last instant a claim is in time: CLAIM_DAYS after the SII received the document."""
        return None if self.received_at is None else self.received_at + timedelta(days=CLAIM_DAYS)
