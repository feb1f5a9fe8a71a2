"""From an XML attachment to Documents: classify, parse, record (deduplicated), pair, render.

Idempotent: the same attachment processed twice gives the same rows and files.
"""

from __future__ import annotations

import logging
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.utils import timezone

from pipeline import config
from pipeline.dte import XML_CONTENT_TYPES, Kind, ParsedDocument, ParsedFile, parse_path
from pipeline.dte.values import ascii_digits
from pipeline.dte.xmlsafe import MAX_XML_BYTES
from pipeline.storage import local_copy
from webapp.inbox.models import Attachment

from ..models import Document, DocumentReference, DocumentSource, XmlClassification
from .assignments import assignments_link, assignments_record
from .columns import fitted
from .money_rows import money_rows_replace
from .printables import document_render

logger = logging.getLogger(__name__)

_NUMBERS = re.compile(r"\d+")
#: Numbers below this in a PDF's name (types, page counts, versions) say nothing about its folio.
_FOLIO_LIKE_MIN = 100


def is_xml_attachment(attachment: Attachment) -> bool:
    return attachment.blob_id is not None and attachment.content_type in XML_CONTENT_TYPES


def xml_attachment_process(*, attachment: Attachment, last_attempt: bool = True) -> XmlClassification | None:
    """Parse a PENDING XML attachment into Documents and render them; records the outcome on the attachment.

    Unexpected errors (storage, database) propagate so the actor retries; on the last
    attempt they are recorded first, so the attachment does not stay pending for ever.
    """
    if attachment.preview_status != Attachment.PreviewStatus.PENDING or not is_xml_attachment(attachment):
        return None
    try:
        return _process(attachment)
    except Exception as exc:
        if last_attempt:
            reason = f"{type(exc).__name__}: {exc}"[:2000]
            XmlClassification.objects.update_or_create(
                attachment=attachment, defaults={"status": XmlClassification.Status.FAILED, "error": reason}
            )
            _attachment_preview(attachment, status=Attachment.PreviewStatus.FAILED, error=reason)
        raise


def _parse_stored(attachment: Attachment) -> ParsedFile:
    """Parsed in the sandbox's child from a local path: the worker never holds the file's bytes."""
    assert attachment.blob is not None  # is_xml_attachment() said so
    if attachment.blob.size > MAX_XML_BYTES:  # kept in storage, never fetched to be refused
        return ParsedFile(
            format="",
            kind=Kind.INVALID,
            problems=[f"larger than the {MAX_XML_BYTES // (1024 * 1024)} MB XML limit; not parsed"],
        )
    storage = storages["default"]
    with local_copy(storage, attachment.blob.storage_name, directory=config.state_dir() / "tmp") as path:
        return parse_path(path, content_type=attachment.content_type)


def _process(attachment: Attachment) -> XmlClassification:
    if attachment.blob is None:  # ruled out by is_xml_attachment(): a bug if reached
        raise ValueError(f"attachment {attachment.pk} has no stored content to parse")
    return xml_attachment_record(attachment=attachment, parsed=_parse_stored(attachment))


def xml_attachment_record(*, attachment: Attachment, parsed: ParsedFile) -> XmlClassification:
    """Record what `parsed` says the attachment is: its classification, Documents, cesiones and preview."""
    classification = _classify(attachment, parsed)
    if parsed.kind is Kind.INVALID:
        _attachment_preview(attachment, status=Attachment.PreviewStatus.FAILED, error=classification.error)
        return classification
    documents = [
        (document_record(attachment=attachment, parsed=doc, single=len(parsed.documents) == 1), doc)
        for doc in parsed.documents
    ]
    if parsed.kind is Kind.ASSIGNMENT:  # its DTE is recorded above, as any other; then who it was sold to
        assignments_record(attachment=attachment, parsed=parsed)
    # Only what is not printed yet: a retry after a time limit carries on where it stopped, and a DTE
    # seen before in another e-mail keeps its printable (reprocessing sets them PENDING first).
    rendered = [
        document_render(document=document, parsed=doc)
        if document.printable_status != Document.PrintableStatus.READY
        else document
        for document, doc in documents
    ]
    ready = [d for d in rendered if d.printable_status == Document.PrintableStatus.READY]
    if ready:
        _attachment_preview(attachment, status=Attachment.PreviewStatus.READY, name=ready[0].preview_name)
    elif parsed.kind is Kind.ASSIGNMENT:  # a cesión is not a document to print: no preview is no failure
        _attachment_preview(attachment, status=Attachment.PreviewStatus.NONE)
    elif rendered:
        _attachment_preview(
            attachment,
            status=Attachment.PreviewStatus.FAILED,
            error="; ".join(d.printable_error for d in rendered)[:2000],
        )
    elif parsed.kind in (Kind.ENVELOPE, Kind.DOCUMENT):
        _attachment_preview(
            attachment,
            status=Attachment.PreviewStatus.FAILED,
            error=classification.error or "no readable DTE in the file",
        )
    else:  # a response, receipts or other XML: stored and labelled, nothing to preview
        _attachment_preview(attachment, status=Attachment.PreviewStatus.NONE)
    return classification


def _classify(attachment: Attachment, parsed: ParsedFile) -> XmlClassification:
    failed = parsed.kind is Kind.INVALID
    classification, _ = XmlClassification.objects.update_or_create(
        attachment=attachment,
        defaults={
            "format": parsed.format,
            "kind": parsed.kind.value,
            "status": XmlClassification.Status.FAILED if failed else XmlClassification.Status.PARSED,
            "summary": parsed.summary[:500],
            "error": "; ".join(parsed.problems)[:5000],
            "document_count": len(parsed.documents),
            "resolution_number": parsed.resolution_number,
            "resolution_date": parsed.resolution_date,
            "parsed_at": timezone.now(),
        },
    )
    if failed:
        logger.warning("XML attachment %s refused: %s", attachment.pk, classification.error)
    return classification


def _attachment_preview(attachment: Attachment, *, status: str, name: str = "", error: str = "") -> None:
    Attachment.objects.filter(pk=attachment.pk).update(
        preview_status=status, preview_name=name, preview_error=error[:2000]
    )


def _fields(parsed: ParsedDocument) -> dict[str, Any]:
    foreign = parsed.foreign
    return fitted(
        Document,
        {
            "type_name": parsed.type_name,
            "issue_date": parsed.issue_date,
            "issuer_rut_valid": parsed.issuer_rut_valid,
            "issuer_rut_error": parsed.issuer_rut_error,
            "issuer_name": parsed.issuer_name,
            "receiver_rut": parsed.receiver_rut,
            "receiver_rut_valid": parsed.receiver_rut_valid,
            "receiver_name": parsed.receiver_name,
            "net": parsed.net,
            "exempt": parsed.exempt,
            "vat": parsed.vat,
            "total": parsed.total,
            "vat_rate": parsed.vat_rate,
            "vat_not_withheld": parsed.vat_not_withheld,
            "other_taxes": parsed.other_taxes,
            "vat_withheld": parsed.vat_withheld,
            "special_credit": parsed.special_credit,
            "deposit_guarantee": parsed.deposit_guarantee,
            "non_billable": parsed.non_billable,
            "period_amount": parsed.period_amount,
            "previous_balance": parsed.previous_balance,
            "amount_due": parsed.amount_due,
            "currency": parsed.currency,
            "foreign_currency": foreign.currency if foreign else "",
            "foreign_currency_name": foreign.name if foreign else "",
            "exchange_rate": foreign.exchange_rate if foreign else None,
            "foreign_net": foreign.net if foreign else None,
            "foreign_exempt": foreign.exempt if foreign else None,
            "foreign_vat": foreign.vat if foreign else None,
            "foreign_total": foreign.total if foreign else None,
            "payment_form": parsed.payment_form,
            "due_date": parsed.due_date,
            "transfer_kind": parsed.transfer_kind,
            **arithmetic_fields(parsed),
            "line_count": parsed.line_count,
            "resolution_number": parsed.resolution_number,
            "resolution_date": parsed.resolution_date,
        },
    )


def arithmetic_fields(parsed: ParsedDocument) -> dict[str, Any]:
    """Whether the document adds up, each sum that does not in words, and by how much its total is off, in pesos.

    adds_up is None when there was nothing to check (no total in the document's own currency).
    """
    foreign = parsed.foreign if parsed.currency != "CLP" else None
    own_total = foreign.total if foreign else parsed.total
    if not parsed.discrepancies:
        return {"adds_up": None if own_total is None else True, "arithmetic_problems": "", "total_difference": None}
    suffix = f" ({parsed.currency})" if parsed.currency != "CLP" else ""
    problems = [
        f"{d.what}{suffix}: stated {_number(d.stated)}, its parts add to {_number(d.expected)}"
        f" (difference {_number(d.difference)})"
        for d in parsed.discrepancies
    ]
    difference = next((d.difference for d in parsed.discrepancies if d.what == "total"), None)
    if difference is not None and parsed.currency != "CLP":  # in the document's currency: to pesos
        rate = foreign.exchange_rate if foreign else None
        difference = difference * rate if rate is not None else None
    return {
        "adds_up": False,
        "arithmetic_problems": "\n".join(problems),
        "total_difference": None if difference is None else int(difference.to_integral_value(rounding=ROUND_HALF_UP)),
    }


def _number(value: Decimal) -> str:
    """As numbers are written in Chile, with the decimals it has: 2.465, -371, 28.689,40."""
    exponent = value.as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    return f"{value:,.{places}f}".replace(",", "_").replace(".", ",").replace("_", ".")


def document_record(*, attachment: Attachment, parsed: ParsedDocument, single: bool = True) -> Document:
    """The one Document for this issuer + type + folio, with this attachment as one of its sources.

    Its fields follow the XML it was first read from; another e-mail carrying the same
    DTE only adds a source (and a supplier PDF when it had none).
    """
    key = {
        "mailbox_id": attachment.message.mailbox_id,
        "country": parsed.country,
        "issuer_rut": parsed.issuer_rut[:20],
        "doc_type": parsed.doc_type,
        "folio": parsed.folio,
    }
    fields = _fields(parsed)
    document = Document.objects.filter(**key).first()
    if document is None:
        try:
            with transaction.atomic():
                document = Document.objects.create(**key, **fields, xml_attachment=attachment)
        except IntegrityError:  # another worker thread recorded it at the same moment
            document = Document.objects.get(**key)
    primary = document.xml_attachment_id in (None, attachment.pk)
    with transaction.atomic():
        if primary:
            Document.objects.filter(pk=document.pk).update(**fields, xml_attachment=attachment)
            _references_replace(document, parsed)
            money_rows_replace(document, parsed)
        DocumentSource.objects.get_or_create(
            document=document, attachment=attachment, defaults={"position": parsed.position}
        )
        if document.pdf_attachment_id is None and (pdf := pdf_for(attachment=attachment, parsed=parsed, single=single)):
            Document.objects.filter(pk=document.pk).update(pdf_attachment=pdf)
        # Notes that arrived before this document point at it from now on.
        DocumentReference.objects.filter(
            target__isnull=True,
            document__country=document.country,
            document__issuer_rut=document.issuer_rut,
            ref_type=str(document.doc_type),
            ref_folio=str(document.folio),
        ).exclude(document=document).update(target=document)
        assignments_link(document)  # and so do cesiones read before it
    document.refresh_from_db()
    return document


def _normal_folio(text: str) -> str:
    return str(int(text)) if ascii_digits(text) else text


def _references_replace(document: Document, parsed: ParsedDocument) -> None:
    """Make the document's references those of `parsed`, updating rows in place (same ids when unchanged)."""
    lines = []
    for ref in parsed.references:
        if ref.line in lines:
            continue
        lines.append(ref.line)
        ref_type, ref_folio = ref.ref_type[:10], _normal_folio(ref.ref_folio)[:40]
        target = None
        if ascii_digits(ref_type) and ascii_digits(ref_folio):
            target = Document.objects.filter(
                country=document.country, issuer_rut=document.issuer_rut, doc_type=int(ref_type), folio=int(ref_folio)
            ).first()
        DocumentReference.objects.update_or_create(
            document=document,
            line=ref.line,
            defaults={
                "ref_type": ref_type,
                "ref_folio": ref_folio,
                "ref_date": ref.ref_date,
                "code": ref.code,
                "reason": ref.reason[:200],
                "target": target,
            },
        )
    DocumentReference.objects.filter(document=document).exclude(line__in=lines).delete()


def pdf_for(*, attachment: Attachment, parsed: ParsedDocument, single: bool) -> Attachment | None:
    """The supplier PDF of the same e-mail: the one whose name holds the folio; else the only
    PDF, when the XML holds one DTE and the PDF's name does not name another folio."""
    pdfs = list(
        Attachment.objects.filter(
            message_id=attachment.message_id, content_type="application/pdf", status=Attachment.Status.STORED
        ).order_by("position")
    )
    numbers = {pdf.pk: {int(n) for n in _NUMBERS.findall(pdf.original_filename or pdf.filename)} for pdf in pdfs}
    for pdf in pdfs:
        if parsed.folio in numbers[pdf.pk]:
            return pdf
    if single and len(pdfs) == 1:
        rut_body = parsed.issuer_rut.partition("-")[0]
        other = {n for n in numbers[pdfs[0].pk] if n >= _FOLIO_LIKE_MIN and str(n) != rut_body}
        if not other:
            return pdfs[0]
    return None


def xml_attachment_reset(*, attachment_ids: list[int]) -> int:
    """Mark XML attachments for parsing again (reprocess); returns how many."""
    updated = Attachment.objects.filter(pk__in=attachment_ids).update(
        preview_status=Attachment.PreviewStatus.PENDING, preview_error="", updated_at=timezone.now()
    )
    XmlClassification.objects.filter(attachment_id__in=attachment_ids).update(status=XmlClassification.Status.PENDING)
    Document.objects.filter(xml_attachment_id__in=attachment_ids).update(
        printable_status=Document.PrintableStatus.PENDING, printable_error=""
    )
    return updated
