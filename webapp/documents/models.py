"""Tax documents understood from XML attachments: one Document per issuer + type + folio.

Written only by the pipeline (the render queue); the admin shows them read-only.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from pipeline.dte.sii import DOC_TYPES
from webapp.inbox.models import Attachment

DOC_TYPE_CHOICES = [(code, f"{code} {name}") for code, name in DOC_TYPES.items()]


class XmlClassification(models.Model):
    """What one XML attachment turned out to be; only envelopes and bare DTE make Documents."""

    class Kind(models.TextChoices):
        ENVELOPE = "envelope", "EnvioDTE (one or several DTE)"
        DOCUMENT = "document", "DTE"
        RESPONSE = "response", "RespuestaDTE (receiver's answer)"
        RECEIPTS = "receipts", "EnvioRecibos (goods received)"
        OTHER = "other", "Other XML"
        INVALID = "invalid", "Refused (unreadable or unsafe)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PARSED = "parsed", "Parsed"
        FAILED = "failed", "Failed"

    attachment = models.OneToOneField(Attachment, on_delete=models.CASCADE, related_name="xml_classification")
    format = models.CharField(max_length=40, blank=True, help_text="The parser that claimed the file.")
    kind = models.CharField(max_length=20, choices=Kind.choices, blank=True, db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    summary = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True, help_text="Why the file, or a DTE inside it, was not understood.")
    document_count = models.PositiveIntegerField(default=0)
    resolution_number = models.PositiveIntegerField(null=True, blank=True, help_text="Caratula NroResol.")
    resolution_date = models.DateField(null=True, blank=True, help_text="Caratula FchResol.")
    parsed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-attachment_id"]
        verbose_name = "XML classification"

    def __str__(self) -> str:
        return f"{self.attachment} ({self.get_kind_display() or self.status})"


class Document(models.Model):
    class PrintableStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    country = models.CharField(max_length=2, default="CL")
    doc_type = models.PositiveSmallIntegerField("type", choices=DOC_TYPE_CHOICES, db_index=True)
    type_name = models.CharField(max_length=100)
    folio = models.PositiveBigIntegerField(db_index=True)
    issue_date = models.DateField(null=True, blank=True, db_index=True)
    issuer_rut = models.CharField(max_length=20, db_index=True)
    issuer_rut_valid = models.BooleanField(default=True)
    issuer_rut_error = models.CharField(max_length=200, blank=True)
    issuer_name = models.CharField(max_length=200, blank=True)
    receiver_rut = models.CharField(max_length=20, blank=True, db_index=True)
    receiver_rut_valid = models.BooleanField(default=True)
    receiver_name = models.CharField(max_length=200, blank=True)
    net = models.BigIntegerField(null=True, blank=True, help_text="MntNeto, CLP")
    exempt = models.BigIntegerField(null=True, blank=True, help_text="MntExe, CLP")
    vat = models.BigIntegerField(null=True, blank=True, help_text="IVA, CLP")
    total = models.BigIntegerField(null=True, blank=True, help_text="MntTotal, CLP")
    line_count = models.PositiveIntegerField(default=0)
    resolution_number = models.PositiveIntegerField(null=True, blank=True)
    resolution_date = models.DateField(null=True, blank=True)
    xml_attachment = models.ForeignKey(Attachment, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+", help_text="The XML this document was first read from.")
    pdf_attachment = models.ForeignKey(Attachment, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+", help_text="The supplier's PDF from the same e-mail.")
    printable_status = models.CharField(max_length=20, choices=PrintableStatus.choices,
                                        default=PrintableStatus.PENDING, db_index=True)
    printable_name = models.CharField(max_length=255, blank=True, help_text="Storage name of the printable PDF.")
    printable_size = models.PositiveBigIntegerField(null=True, blank=True)
    preview_name = models.CharField(max_length=255, blank=True, help_text="Storage name of its PNG thumbnail.")
    printable_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [models.UniqueConstraint(fields=["country", "issuer_rut", "doc_type", "folio"],
                                               name="unique_document_per_issuer_type_folio")]
        indexes = [models.Index(fields=["issuer_rut", "issue_date"])]

    def __str__(self) -> str:
        return f"{self.doc_type}-{self.folio} {self.issuer_rut}"

    @property
    def file_stem(self) -> str:
        """`<type>-<folio>`: the name of its files in downloads and archives."""
        return f"{self.doc_type}-{self.folio}"


class DocumentSource(models.Model):
    """One XML attachment a Document was read from: the same invoice in two e-mails has two."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="sources")
    attachment = models.ForeignKey(Attachment, on_delete=models.CASCADE, related_name="document_sources")
    position = models.PositiveIntegerField(default=0, help_text="Position of the DTE inside the file.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["document_id", "attachment_id"]
        constraints = [models.UniqueConstraint(fields=["document", "attachment"], name="unique_document_source")]

    def __str__(self) -> str:
        return f"{self.document} from {self.attachment}"


class DocumentReference(models.Model):
    """A `Referencia`: what a note corrects; `target` is set when that Document is (or later becomes) known."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="references")
    line = models.PositiveIntegerField()
    ref_type = models.CharField(max_length=10, blank=True, help_text="TpoDocRef: a DTE type or another code (801: order).")
    ref_folio = models.CharField(max_length=40, blank=True)
    ref_date = models.DateField(null=True, blank=True)
    code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="CodRef: 1 voids, 2 fixes text, 3 fixes amounts.")
    reason = models.CharField(max_length=200, blank=True)
    target = models.ForeignKey(Document, null=True, blank=True, on_delete=models.SET_NULL, related_name="referenced_by")

    class Meta:
        ordering = ["document_id", "line"]
        constraints = [models.UniqueConstraint(fields=["document", "line"], name="unique_reference_line")]

    def __str__(self) -> str:
        return f"{self.document} -> {self.ref_type}-{self.ref_folio}"
