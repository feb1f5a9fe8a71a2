"""Tax documents understood from XML attachments: one Document per mailbox + issuer + type + folio.

A mailbox's Document is what that mailbox received of the SII's document: its fields are read from
the chosen one of its copies (DocumentSource, one per XML that carried it), never from another
mailbox's mail. Written only by the pipeline (the render queue); the admin shows them read-only.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pipeline.dte.kinds import DOC_TYPES
from webapp.inbox.models import Attachment, Mailbox

DOC_TYPE_CHOICES: list[tuple[int, str]] = [(code, f"{code} {name}") for code, name in DOC_TYPES.items()]


class CheckState(models.TextChoices):
    """pipeline.dte.model.CheckState, as stored: the TED or the XML signature of a copy."""

    VALID = "valid", _("Valid")
    INVALID = "invalid", _("Invalid")
    MISSING = "missing", _("Missing")
    UNCHECKED = "unchecked", _("Not checked")


class DecisionCode(models.TextChoices):
    """The SII's codes for what a receiver decides of a claimable document (Ley 19.983)."""

    ACD = "ACD", _("Accept the content (ACD)")
    RCD = "RCD", _("Claim against the content (RCD)")
    ERM = "ERM", _("Acknowledge receipt of goods or services (ERM)")
    RFP = "RFP", _("Claim: goods partly missing (RFP)")
    RFT = "RFT", _("Claim: goods totally missing (RFT)")


#: Decisions that accept a document; the others claim against it.
ACCEPTING_DECISIONS = frozenset({DecisionCode.ACD, DecisionCode.ERM})


class ClaimState(models.TextChoices):
    """Where a claimable document stands: from its latest decision, else its deadline (services/claims.py)."""

    PENDING = "pending", _("Pending")
    ACCEPTED = "accepted", _("Accepted")
    CLAIMED = "claimed", _("Claimed")
    TACITLY_ACCEPTED = "tacit", _("Tacitly accepted")


class XmlClassification(models.Model):
    """What one XML attachment turned out to be; only envelopes and bare DTE make Documents."""

    class Kind(models.TextChoices):
        ENVELOPE = "envelope", _("EnvioDTE (one or several DTE)")
        DOCUMENT = "document", _("DTE")
        RESPONSE = "response", _("RespuestaDTE (receiver's answer)")
        RECEIPTS = "receipts", _("EnvioRecibos (goods received)")
        ASSIGNMENT = "assignment", _("AEC (invoice assigned to a factoring company)")
        OTHER = "other", _("Other XML")
        INVALID = "invalid", _("Refused (unreadable or unsafe)")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PARSED = "parsed", _("Parsed")
        FAILED = "failed", _("Failed")

    attachment = models.OneToOneField(
        Attachment, verbose_name=_("attachment"), on_delete=models.CASCADE, related_name="xml_classification"
    )
    format = models.CharField(_("format"), max_length=40, blank=True, help_text=_("The parser that claimed the file."))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, blank=True, db_index=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    error = models.TextField(
        _("error"), blank=True, help_text=_("Why the file, or a DTE inside it, was not understood.")
    )
    document_count = models.PositiveIntegerField(_("document count"), default=0)
    resolution_number = models.PositiveIntegerField(
        _("resolution number"), null=True, blank=True, help_text=_("Caratula NroResol.")
    )
    resolution_date = models.DateField(_("resolution date"), null=True, blank=True, help_text=_("Caratula FchResol."))
    parsed_at = models.DateTimeField(_("parsed at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-attachment_id"]
        verbose_name = _("XML classification")
        verbose_name_plural = _("XML classifications")

    def __str__(self) -> str:
        return f"{self.attachment} ({self.get_kind_display() or self.status})"


class Document(models.Model):
    class PrintableStatus(models.TextChoices):
        PENDING = "pending", _("Pending")
        # recorded by the pipeline: the printable is drawn on its first request (services/printable_requests.py)
        ON_REQUEST = "on_request", _("On request")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    class PaymentForm(models.IntegerChoices):
        CASH = 1, _("Cash")
        CREDIT = 2, _("Credit")
        FREE = 3, _("Free of charge")

    class TransferKind(models.IntegerChoices):
        SALE = 1, _("Sale")
        SALE_TO_BE_MADE = 2, _("Sale to be made")
        CONSIGNMENT = 3, _("Consignment")
        FREE_DELIVERY = 4, _("Free delivery")
        INTERNAL = 5, _("Internal transfer")
        OTHER_TRANSFER = 6, _("Other transfer, not a sale")
        RETURN = 7, _("Return guide")
        EXPORT_TRANSFER = 8, _("Transfer for export")
        EXPORT_SALE = 9, _("Sale for export")

    mailbox = models.ForeignKey(Mailbox, verbose_name=_("mailbox"), on_delete=models.CASCADE, related_name="documents")
    country = models.CharField(_("country"), max_length=2, default="CL")
    doc_type = models.PositiveSmallIntegerField(_("type"), choices=DOC_TYPE_CHOICES, db_index=True)
    type_name = models.CharField(_("type name"), max_length=100)
    folio = models.PositiveBigIntegerField(_("folio"), db_index=True)
    issue_date = models.DateField(_("issue date"), null=True, blank=True, db_index=True)
    issuer_rut = models.CharField(_("issuer RUT"), max_length=20, db_index=True)
    issuer_rut_valid = models.BooleanField(_("issuer RUT valid"), default=True)
    issuer_rut_error = models.CharField(_("issuer RUT error"), max_length=200, blank=True)
    issuer_name = models.CharField(_("issuer name"), max_length=200, blank=True)
    receiver_rut = models.CharField(_("receiver RUT"), max_length=20, blank=True, db_index=True)
    receiver_rut_valid = models.BooleanField(_("receiver RUT valid"), default=True)
    receiver_name = models.CharField(_("receiver name"), max_length=200, blank=True)
    net = models.BigIntegerField(_("net"), null=True, blank=True, help_text=_("MntNeto, CLP"))
    exempt = models.BigIntegerField(_("exempt"), null=True, blank=True, help_text=_("MntExe, CLP"))
    vat = models.BigIntegerField(_("VAT"), null=True, blank=True, help_text=_("IVA, CLP"))
    total = models.BigIntegerField(_("total"), null=True, blank=True, help_text=_("MntTotal, CLP"))
    vat_rate = models.DecimalField(_("VAT rate"), max_digits=5, decimal_places=2, null=True, blank=True)
    vat_not_withheld = models.BigIntegerField(
        _("VAT not withheld"), null=True, blank=True, help_text=_("IVANoRet, CLP")
    )
    other_taxes = models.BigIntegerField(
        _("other taxes"), null=True, blank=True, help_text=_("Additional and specific taxes (ImptoReten), CLP")
    )
    vat_withheld = models.BigIntegerField(
        _("VAT withheld"), null=True, blank=True, help_text=_("Retentions (ImptoReten), CLP")
    )
    special_credit = models.BigIntegerField(_("special credit"), null=True, blank=True, help_text=_("CredEC, CLP"))
    deposit_guarantee = models.BigIntegerField(
        _("deposit guarantee"), null=True, blank=True, help_text=_("GrntDep, CLP")
    )
    non_billable = models.BigIntegerField(_("non-billable amount"), null=True, blank=True, help_text=_("MontoNF, CLP"))
    period_amount = models.BigIntegerField(_("period amount"), null=True, blank=True, help_text=_("MontoPeriodo"))
    previous_balance = models.BigIntegerField(
        _("previous balance"), null=True, blank=True, help_text=_("SaldoAnterior")
    )
    amount_due = models.BigIntegerField(_("amount to pay"), null=True, blank=True, help_text=_("VlrPagar"))
    currency = models.CharField(
        _("currency"), max_length=3, default="CLP", db_index=True, help_text=_("ISO 4217 code of Totales.")
    )
    foreign_currency = models.CharField(
        _("foreign currency"), max_length=3, blank=True, help_text=_("ISO 4217 code of the amounts not in pesos.")
    )
    foreign_currency_name = models.CharField(_("foreign currency name"), max_length=40, blank=True)
    exchange_rate = models.DecimalField(_("exchange rate"), max_digits=24, decimal_places=6, null=True, blank=True)
    foreign_net = models.DecimalField(
        _("net (foreign currency)"), max_digits=22, decimal_places=4, null=True, blank=True
    )
    foreign_exempt = models.DecimalField(
        _("exempt (foreign currency)"), max_digits=22, decimal_places=4, null=True, blank=True
    )
    foreign_vat = models.DecimalField(
        _("VAT (foreign currency)"), max_digits=22, decimal_places=4, null=True, blank=True
    )
    foreign_total = models.DecimalField(
        _("total (foreign currency)"), max_digits=22, decimal_places=4, null=True, blank=True
    )
    payment_form = models.PositiveSmallIntegerField(
        _("payment form"), choices=PaymentForm.choices, null=True, blank=True
    )
    due_date = models.DateField(_("due date"), null=True, blank=True, db_index=True, help_text=_("FchVenc"))
    transfer_kind = models.PositiveSmallIntegerField(
        _("transfer kind"), choices=TransferKind.choices, null=True, blank=True, help_text=_("IndTraslado")
    )
    adds_up = models.BooleanField(
        _("adds up"), null=True, blank=True, db_index=True, help_text=_("Its lines, taxes and totals agree.")
    )
    arithmetic_problems = models.TextField(_("arithmetic problems"), blank=True)
    total_difference = models.BigIntegerField(
        _("total difference"), null=True, blank=True, help_text=_("Stated total minus what its parts add to.")
    )
    line_count = models.PositiveIntegerField(_("line count"), default=0)
    resolution_number = models.PositiveIntegerField(_("resolution number"), null=True, blank=True)
    resolution_date = models.DateField(_("resolution date"), null=True, blank=True)
    xml_attachment = models.ForeignKey(
        Attachment,
        verbose_name=_("XML attachment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The XML of the chosen copy, which the fields are read from."),
    )
    ted = models.CharField(
        _("TED"),
        max_length=10,
        choices=CheckState.choices,
        default=CheckState.UNCHECKED,
        db_index=True,
        help_text=_("The electronic stamp (timbre) of the chosen copy."),
    )
    signature = models.CharField(
        _("signature"),
        max_length=10,
        choices=CheckState.choices,
        default=CheckState.UNCHECKED,
        db_index=True,
        help_text=_("The XML signature of the chosen copy: a signal, not a verdict."),
    )
    conflict = models.BooleanField(
        _("conflicting copies"),
        default=False,
        db_index=True,
        help_text=_("Copies of this document say different things (amounts, dates, RUTs, lines)."),
    )
    pdf_attachment = models.ForeignKey(
        Attachment,
        verbose_name=_("PDF attachment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The supplier's PDF from the same e-mail."),
    )
    printable_status = models.CharField(
        _("printable status"),
        max_length=20,
        choices=PrintableStatus.choices,
        default=PrintableStatus.PENDING,
        db_index=True,
    )
    printable_name = models.CharField(
        _("printable name"), max_length=255, blank=True, help_text=_("Storage name of the printable PDF.")
    )
    printable_size = models.PositiveBigIntegerField(_("printable size"), null=True, blank=True)
    preview_name = models.CharField(
        _("preview name"), max_length=255, blank=True, help_text=_("Storage name of its PNG thumbnail.")
    )
    printable_error = models.TextField(_("printable error"), blank=True)
    sii_received_at = models.DateTimeField(
        _("received by the SII"),
        null=True,
        blank=True,
        help_text=_("From the SII purchase register (Fecha Recepcion): the claim deadline runs from it."),
    )
    claim_deadline = models.DateTimeField(
        _("claim deadline"),
        null=True,
        blank=True,
        db_index=True,
        help_text=_("Last moment to accept or claim (Ley 19.983); empty for documents that are not claimed."),
    )
    claim_deadline_estimated = models.BooleanField(
        _("deadline estimated"),
        default=False,
        help_text=_("Counted from the mail's arrival, as the SII's reception date is not known yet."),
    )
    claim_decision = models.CharField(
        _("decision"),
        max_length=3,
        choices=DecisionCode.choices,
        blank=True,
        db_index=True,
        help_text=_("The latest decision recorded (DocumentDecision); empty while none is."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        _FACETS = [
            "doc_type",
            "adds_up",
            "payment_form",
            "ted",
            "signature",
            "conflict",
            "receiver_rut",
            "receiver_name",
            "foreign_currency",
        ]
        #: What the totals bar reads of each document (totals.py).
        _TOTALS = [
            "doc_type",
            "net",
            "exempt",
            "vat",
            "other_taxes",
            "vat_withheld",
            "total",
            "foreign_currency",
            "foreign_total",
            "issue_date",
        ]
        ordering = ["-issue_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "country", "issuer_rut", "doc_type", "folio"],
                name="unique_document_per_mailbox_issuer_type_folio",
            )
        ]
        indexes = [
            models.Index(fields=["issuer_rut", "issue_date"]),
            models.Index(fields=["country", "issuer_rut", "doc_type", "folio"], name="document_sii_key"),
            # The list of one mailbox in its own order, newest first, without sorting all of it.
            models.Index(fields=["mailbox", "-issue_date", "-id"], name="document_list_of_mailbox"),
            # What the list's filters offer (admin_filters.py) read from an index alone, not from the wide rows:
            # for all mailboxes, and for one (SQLite picks an index by its first column).
            models.Index(fields=[*_FACETS, "mailbox"], name="document_list_facets"),
            models.Index(fields=["mailbox", *_FACETS], name="document_mailbox_facets"),
            models.Index(fields=["issuer_rut", "ted", "issuer_name", "mailbox"], name="document_list_issuers"),
            models.Index(fields=["mailbox", "issuer_rut", "ted", "issuer_name"], name="document_mailbox_issuers"),
            # The list sorted by one of its columns, either way (an index is read backwards as well; its ties by
            # id in the same direction: admin.DocumentChangeList), of every mailbox and of one. The issue date
            # and the type have an index of their own (db_index), and the folio for every mailbox.
            models.Index(fields=["total", "id"], name="document_by_total"),
            models.Index(fields=["mailbox", "total", "id"], name="document_mailbox_by_total"),
            models.Index(fields=["issuer_name", "id"], name="document_by_issuer"),
            models.Index(fields=["mailbox", "issuer_name", "id"], name="document_mailbox_by_issuer"),
            models.Index(fields=["mailbox", "folio", "id"], name="document_mailbox_by_folio"),
            models.Index(fields=["mailbox", "doc_type", "id"], name="document_mailbox_by_type"),
            # The totals bar (and the date hierarchy's range) read from an index alone, not from the wide rows:
            # one mailbox's a range of it (20,000 documents: 51 ms read from the rows, 13 from here), every
            # mailbox's all of it (SQLite takes any index that holds every column a query reads).
            models.Index(fields=["mailbox", *_TOTALS], name="document_mailbox_totals"),
            # The claim deadline filter: pending (no decision yet) documents by deadline, a range of the index.
            models.Index(fields=["claim_decision", "claim_deadline"], name="document_pending_deadlines"),
        ]
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        permissions = [("decide_document", _("Can accept or claim against documents"))]

    def __str__(self) -> str:
        return f"{self.doc_type}-{self.folio} {self.issuer_rut}"

    @property
    def file_stem(self) -> str:
        """`<type>-<folio>`: the name of its files in downloads and archives."""
        return f"{self.doc_type}-{self.folio}"


class DocumentSource(models.Model):
    """A copy: one XML attachment that carried the Document, with its checks.

    The same invoice in two e-mails of the mailbox has two copies. Copies with a different
    `content_hash` are a conflict; the `chosen` one (a TED that verifies first, then the first
    to arrive) is the one the Document's fields are read from.
    """

    document = models.ForeignKey(Document, verbose_name=_("document"), on_delete=models.CASCADE, related_name="sources")
    attachment = models.ForeignKey(
        Attachment, verbose_name=_("attachment"), on_delete=models.CASCADE, related_name="document_sources"
    )
    position = models.PositiveIntegerField(
        _("position"), default=0, help_text=_("Position of the DTE inside the file.")
    )
    ted = models.CharField(_("TED"), max_length=10, choices=CheckState.choices, default=CheckState.UNCHECKED)
    ted_error = models.CharField(_("TED problem"), max_length=500, blank=True)
    signature = models.CharField(
        _("signature"), max_length=10, choices=CheckState.choices, default=CheckState.UNCHECKED
    )
    signature_error = models.CharField(_("signature problem"), max_length=500, blank=True)
    content_hash = models.CharField(
        _("content hash"), max_length=64, blank=True, help_text=_("Equal for copies that say the same.")
    )
    content = models.JSONField(
        _("content"), default=dict, blank=True, help_text=_("What this copy says: dates, RUTs, amounts.")
    )
    chosen = models.BooleanField(
        _("chosen"), default=False, help_text=_("The copy the document's fields are read from.")
    )
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["document_id", "attachment_id"]
        constraints = [models.UniqueConstraint(fields=["document", "attachment"], name="unique_document_source")]
        verbose_name = _("copy")
        verbose_name_plural = _("copies")

    def __str__(self) -> str:
        return f"{self.document} from {self.attachment}"


class DocumentReference(models.Model):
    """A `Referencia`: what a note corrects; `target` is set when that Document is (or later becomes) known."""

    document = models.ForeignKey(
        Document, verbose_name=_("document"), on_delete=models.CASCADE, related_name="references"
    )
    line = models.PositiveIntegerField(_("line"))
    ref_type = models.CharField(
        _("ref type"), max_length=10, blank=True, help_text=_("TpoDocRef: a DTE type or another code (801: order).")
    )
    ref_folio = models.CharField(_("ref folio"), max_length=40, blank=True)
    ref_date = models.DateField(_("ref date"), null=True, blank=True)
    code = models.PositiveSmallIntegerField(
        _("code"), null=True, blank=True, help_text=_("CodRef: 1 voids, 2 fixes text, 3 fixes amounts.")
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    target = models.ForeignKey(
        Document,
        verbose_name=_("target"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="referenced_by",
    )

    class Meta:
        ordering = ["document_id", "line"]
        constraints = [models.UniqueConstraint(fields=["document", "line"], name="unique_reference_line")]
        verbose_name = _("document reference")
        verbose_name_plural = _("document references")

    def __str__(self) -> str:
        return f"{self.document} -> {self.ref_type}-{self.ref_folio}"


# The row models live beside, and are registered with the app from here.
from .models_claims import DocumentDecision  # noqa: E402
from .models_responses import DocumentResponse  # noqa: E402
from .models_rows import (  # noqa: E402
    DocumentAssignment,
    DocumentDiscount,
    DocumentLine,
    DocumentPayment,
    DocumentTax,
)

__all__ = [
    "Document",
    "DocumentAssignment",
    "DocumentDecision",
    "DocumentDiscount",
    "DocumentLine",
    "DocumentPayment",
    "DocumentReference",
    "DocumentResponse",
    "DocumentSource",
    "DocumentTax",
    "XmlClassification",
]
