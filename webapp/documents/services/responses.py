"""Receivers' answers read from RespuestaDTE and EnvioRecibos files: one DocumentResponse per DTE answered.

Each row points at the Document of the same mailbox with its issuer, type and folio, when that mailbox
has it (or as soon as it does); an answer that arrived through another mailbox never links to it.
Idempotent: the same file recorded twice gives the same rows.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from pipeline.dte import ParsedFile
from pipeline.dte.model import ParsedResponse
from webapp.inbox.models import Attachment

from ..models import Document, DocumentResponse
from .columns import fitted

#: RespuestaDTE and EnvioRecibos are the SII's: they answer Chilean documents.
COUNTRY = "CL"

_KEY = ("issuer_rut", "doc_type", "folio")


def responses_record(*, attachment: Attachment, parsed: ParsedFile) -> list[DocumentResponse]:
    """The answers `parsed` read from `attachment`, one row each in the file's order.

    Rows of this file that it no longer states are removed; an answer whose DTE key no column holds
    (an absurd folio) is left out.
    """
    mailbox_id = attachment.message.mailbox_id
    with transaction.atomic():
        rows = []
        for position, response in enumerate(parsed.responses):
            values = _values(response)
            key = tuple(values[name] for name in _KEY)
            if None in key or not values["issuer_rut"]:
                continue
            document = _document(mailbox_id, *key)
            row, _ = DocumentResponse.objects.update_or_create(
                attachment=attachment, position=position, defaults={**values, "document": document}
            )
            rows.append(row)
        DocumentResponse.objects.filter(attachment=attachment).exclude(pk__in=[row.pk for row in rows]).delete()
    return rows


def responses_link(document: Document) -> int:
    """Point the answers of `document`'s mailbox that arrived before it at it; returns how many."""
    return responses_waiting(document).update(document=document)


def responses_waiting(document: Document) -> QuerySet[DocumentResponse]:
    """The answers of `document`'s mailbox that arrived before it and point at no document yet (none outside Chile)."""
    if document.country != COUNTRY:
        return DocumentResponse.objects.none()
    return DocumentResponse.objects.filter(
        document__isnull=True,
        attachment__message__mailbox_id=document.mailbox_id,
        issuer_rut=document.issuer_rut,
        doc_type=document.doc_type,
        folio=document.folio,
    )


def _document(mailbox_id: int, issuer_rut: str, doc_type: int, folio: int) -> Document | None:
    return Document.objects.filter(
        mailbox_id=mailbox_id, country=COUNTRY, issuer_rut=issuer_rut, doc_type=doc_type, folio=folio
    ).first()


def _values(response: ParsedResponse) -> dict[str, Any]:
    return fitted(
        DocumentResponse,
        {
            "kind": response.kind,
            "issuer_rut": response.issuer_rut,
            "doc_type": response.doc_type,
            "folio": response.folio,
            "issue_date": response.issue_date,
            "total": response.total,
            "receiver_rut": response.receiver_rut,
            "responder_rut": response.responder_rut,
            "status_code": response.status_code,
            "status_text": response.status_text,
            "answered_at": response.answered_at,
        },
    )
