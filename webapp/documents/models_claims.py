"""What a receiver decided of a claimable document, as an audit history: who, when, which code, why.

Only appended to (services/claims.py): the latest decision is also kept on Document.claim_decision.
Nothing here is sent to the SII.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import DecisionCode, Document


class DocumentDecision(models.Model):
    document = models.ForeignKey(
        Document, verbose_name=_("document"), on_delete=models.CASCADE, related_name="decisions"
    )
    code = models.CharField(_("decision"), max_length=3, choices=DecisionCode.choices)
    reason = models.TextField(_("reason"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    decided_at = models.DateTimeField(_("decided at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["document_id", "-decided_at", "-id"]
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")

    def __str__(self) -> str:
        return f"{self.document} {self.code}"
