"""Cesiones read from AEC files: which invoice was sold (assigned) to whom, and who owns it now.

One DocumentAssignment per cesión and file, linked to the invoice's Document of the same mailbox when
it is known (or as soon as it becomes known). Idempotent: the same file recorded twice gives the same rows.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from pipeline.dte import ParsedFile
from pipeline.dte.model import ParsedAssignment
from webapp.inbox.models import Attachment

from ..models import Document, DocumentAssignment
from .columns import fitted

#: AEC are Chilean: the SII's Registro Público Electrónico de Transferencia de Créditos.
COUNTRY = "CL"

_KEY = ("country", "issuer_rut", "doc_type", "folio", "sequence")


def assignments_record(*, attachment: Attachment, parsed: ParsedFile) -> list[DocumentAssignment]:
    """The cesiones of the AEC `parsed` from `attachment`, one row each, in sequence order.

    Rows of this file that it no longer states are removed; a cesión whose invoice key no column
    holds (an absurd folio) is left out.
    """
    wanted: dict[tuple[Any, ...], dict[str, Any]] = {}
    for assignment in parsed.assignments:
        values = _values(assignment)
        key = tuple(values[name] for name in _KEY)
        if None not in key:
            wanted.setdefault(key, values)  # the unique constraint: the first of two equal cesiones
    with transaction.atomic():
        mailbox_id = attachment.message.mailbox_id
        documents = {invoice: _document(mailbox_id, *invoice) for invoice in {key[:4] for key in wanted}}
        rows = []
        for key, values in wanted.items():
            row, _ = DocumentAssignment.objects.update_or_create(
                attachment=attachment,
                **dict(zip(_KEY, key, strict=True)),
                defaults={**values, "document": documents[key[:4]]},
            )
            rows.append(row)
        stale = DocumentAssignment.objects.filter(attachment=attachment).exclude(pk__in=[row.pk for row in rows])
        stale.delete()
    return sorted(rows, key=lambda row: (row.issuer_rut, row.doc_type, row.folio, row.sequence))


def assignments_waiting(document: Document) -> QuerySet[DocumentAssignment]:
    """The cesiones of `document`'s mailbox that arrived before it and point at no document yet."""
    return DocumentAssignment.objects.filter(
        document__isnull=True,
        attachment__message__mailbox_id=document.mailbox_id,
        country=document.country,
        issuer_rut=document.issuer_rut,
        doc_type=document.doc_type,
        folio=document.folio,
    )


def current_assignment(document: Document) -> DocumentAssignment | None:
    """The latest cesión of `document` (its highest sequence): who owns the invoice now; None if never assigned."""
    return (
        DocumentAssignment.objects.filter(document=document)
        .order_by("-sequence", "-assigned_at", "-pk")
        .select_related("attachment")
        .first()
    )


def _document(mailbox_id: int, country: str, issuer_rut: str, doc_type: int, folio: int) -> Document | None:
    """The invoice as the mailbox of the AEC received it: a cesión never links another mailbox's."""
    return Document.objects.filter(
        mailbox_id=mailbox_id, country=country, issuer_rut=issuer_rut, doc_type=doc_type, folio=folio
    ).first()


def _values(assignment: ParsedAssignment) -> dict[str, Any]:
    return fitted(
        DocumentAssignment,
        {
            "country": COUNTRY,
            "issuer_rut": assignment.issuer_rut,
            "doc_type": assignment.doc_type,
            "folio": assignment.folio,
            "sequence": assignment.sequence,
            "assignor_rut": assignment.assignor_rut,
            "assignor_name": assignment.assignor_name,
            "assignee_rut": assignment.assignee_rut,
            "assignee_name": assignment.assignee_name,
            "assignee_email": assignment.assignee_email,
            "amount": assignment.amount,
            "assigned_at": assignment.assigned_at,
            "last_due_date": assignment.last_due_date,
        },
    )
