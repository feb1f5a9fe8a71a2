"""What receivers answered about documents: RespuestaDTE and EnvioRecibos, one row per DTE answered.

Written by services/responses.py from the file; `document` is the answered Document of the same
mailbox, set when it is (or later becomes) known.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from webapp.inbox.models import Attachment

from .models import DOC_TYPE_CHOICES, Document


class DocumentResponse(models.Model):
    class Kind(models.TextChoices):
        RECEPTION = "reception", _("File received (RecepcionDTE)")
        RESULT = "result", _("Accepted or rejected (ResultadoDTE)")
        RECEIPT = "receipt", _("Goods or services received (Recibo)")

    attachment = models.ForeignKey(
        Attachment, verbose_name=_("attachment"), on_delete=models.CASCADE, related_name="document_responses"
    )
    position = models.PositiveIntegerField(_("position"), default=0, help_text=_("Position inside the file."))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    issuer_rut = models.CharField(_("issuer RUT"), max_length=20, db_index=True)
    doc_type = models.PositiveSmallIntegerField(_("type"), choices=DOC_TYPE_CHOICES)
    folio = models.PositiveBigIntegerField(_("folio"))
    issue_date = models.DateField(_("issue date"), null=True, blank=True)
    total = models.BigIntegerField(_("total"), null=True, blank=True)
    receiver_rut = models.CharField(_("receiver RUT"), max_length=20, blank=True)
    responder_rut = models.CharField(_("answered by"), max_length=20, blank=True)
    status_code = models.SmallIntegerField(_("status code"), null=True, blank=True)
    status_text = models.CharField(_("status"), max_length=300, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    document = models.ForeignKey(
        Document,
        verbose_name=_("document"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="responses",
    )

    class Meta:
        ordering = ["attachment_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["attachment", "position"], name="unique_document_response_position")
        ]
        indexes = [models.Index(fields=["issuer_rut", "doc_type", "folio"], name="document_response_key")]
        verbose_name = _("receiver's answer")
        verbose_name_plural = _("receivers' answers")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.doc_type}-{self.folio} {self.issuer_rut}"
