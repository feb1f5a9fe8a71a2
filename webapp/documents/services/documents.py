"""From an XML attachment to Documents: classify, parse, record (one copy each), pair; printables on request.

Idempotent: the same attachment processed twice gives the same rows and files.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.db.models import Exists
from django.utils import timezone

from pipeline import config
from pipeline.dte import MAX_XML_BYTES, XML_CONTENT_TYPES, Kind, ParsedDocument, ParsedFile, parse_path
from pipeline.dte.values import ascii_digits
from pipeline.storage import local_copy
from webapp.inbox.models import Attachment
from webapp.inbox.services.previews import attachment_preview_record
from webapp.inbox.services.transactions import conflict_guard

from ..models import CheckState, Document, DocumentReference, DocumentSource, XmlClassification
from .assignments import assignments_record, assignments_waiting
from .claims import claim_deadline_set, claim_deadline_values
from .copies import copies_settle, copy_record
from .document_fields import document_fields
from .money_rows import money_rows_replace
from .printables import document_render
from .responses import responses_record, responses_waiting

logger = logging.getLogger(__name__)

_NUMBERS = re.compile(r"\d+")
#: Numbers below this in a PDF's name (types, page counts, versions) say nothing about its folio.
_FOLIO_LIKE_MIN = 100


def is_xml_attachment(attachment: Attachment) -> bool:
    return attachment.blob_id is not None and attachment.content_type in XML_CONTENT_TYPES


def xml_attachment_process(*, attachment: Attachment, last_attempt: bool = True) -> XmlClassification | None:
    """Parse a PENDING XML attachment into Documents (printed on request); records the outcome on the attachment.

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


def parsed_attachment(attachment: Attachment) -> ParsedFile:
    """Parsed in the sandbox's child from a local path: the worker never holds the file's bytes."""
    assert attachment.blob is not None  # is_xml_attachment() said so
    if attachment.blob.size > MAX_XML_BYTES:  # kept in storage, never fetched to be refused
        return ParsedFile(
            format="",
            kind=Kind.INVALID,
            problems=[f"larger than the {MAX_XML_BYTES // (1024 * 1024)} MB XML limit; not parsed"],
        )
    storage = storages["default"]
    with local_copy(storage, attachment.blob.storage_name, directory=config.spool_dir()) as path:
        return parse_path(path, content_type=attachment.content_type)


def _process(attachment: Attachment) -> XmlClassification:
    if attachment.blob is None:  # ruled out by is_xml_attachment(): a bug if reached
        raise ValueError(f"attachment {attachment.pk} has no stored content to parse")
    return xml_attachment_record(attachment=attachment, parsed=parsed_attachment(attachment))


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
    if parsed.kind in (Kind.RESPONSE, Kind.RECEIPTS):  # what receivers said of documents
        responses_record(attachment=attachment, parsed=parsed)
    # Only what is not printed yet, and only from the chosen copy: a DTE seen before in another e-mail
    # keeps its printable (reprocessing sets them PENDING first).
    unprinted = [
        (document, doc)
        for document, doc in documents
        if document.printable_status != Document.PrintableStatus.READY and document.xml_attachment_id == attachment.pk
    ]
    if len(parsed.documents) > 1:
        # An envelope's DTE are drawn here, from this one parse: on request, each would parse the whole
        # envelope again, and its sender chooses how many it holds.
        drawn = {document.pk: document_render(document=document, parsed=doc) for document, doc in unprinted}
    else:  # a lone DTE is drawn on its first request (printable_requests.py), a parse of its own file
        _printables_on_request(
            [
                document
                for document, _doc in unprinted
                if document.printable_status != Document.PrintableStatus.ON_REQUEST
            ]
        )
        drawn = {}
    rendered = [drawn.get(document.pk, document) for document, _doc in documents]
    ready = [d for d in rendered if d.printable_status == Document.PrintableStatus.READY]
    if ready:
        _attachment_preview(attachment, status=Attachment.PreviewStatus.READY, name=ready[0].preview_name)
    elif any(d.printable_status != Document.PrintableStatus.FAILED for d in rendered):
        # its preview is its first printable, made when one is asked for (printable_requests.py)
        _attachment_preview(attachment, status=Attachment.PreviewStatus.NONE)
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


def _printables_on_request(documents: list[Document]) -> None:
    """Record that these Documents' printables are made on their first request; one UPDATE for them all."""
    if not documents:
        return
    Document.objects.filter(pk__in=[d.pk for d in documents]).update(
        printable_status=Document.PrintableStatus.ON_REQUEST, printable_error=""
    )
    for document in documents:
        document.printable_status, document.printable_error = Document.PrintableStatus.ON_REQUEST, ""


def _classify(attachment: Attachment, parsed: ParsedFile) -> XmlClassification:
    failed = parsed.kind is Kind.INVALID
    values = {
        "format": parsed.format,
        "kind": parsed.kind.value,
        "status": XmlClassification.Status.FAILED if failed else XmlClassification.Status.PARSED,
        "summary": parsed.summary[:500],
        "error": "; ".join(parsed.problems)[:5000],
        "document_count": len(parsed.documents),
        "resolution_number": parsed.resolution_number,
        "resolution_date": parsed.resolution_date,
        "parsed_at": timezone.now(),
    }
    try:  # most files are classified once: the INSERT alone
        with conflict_guard():
            classification = XmlClassification.objects.create(attachment=attachment, **values)
    except IntegrityError:  # a retry or a reprocess: classified before
        classification, _ = XmlClassification.objects.update_or_create(attachment=attachment, defaults=values)
    if failed:
        logger.warning("XML attachment %s refused: %s", attachment.pk, classification.error)
    return classification


def _attachment_preview(attachment: Attachment, *, status: str, name: str = "", error: str = "") -> None:
    attachment_preview_record(attachment=attachment, status=status, name=name, error=error)


def document_record(*, attachment: Attachment, parsed: ParsedDocument, single: bool = True) -> Document:
    """The mailbox's Document for this issuer + type + folio, with this attachment as one of its copies.

    Its fields, references and money rows are those of the chosen copy (copies.chosen_of): a copy that
    is not chosen is kept with its checks and changes nothing of the Document.
    """
    key = {
        "mailbox_id": attachment.message.mailbox_id,
        "country": parsed.country,
        "issuer_rut": parsed.issuer_rut[:20],
        "doc_type": parsed.doc_type,
        "folio": parsed.folio,
    }
    fields = document_fields(parsed)
    with transaction.atomic():
        # One copy at a time per Document: two worker threads recording two copies choose in turn.
        document = Document.objects.select_for_update().filter(**key).first()
        if document is None:
            document = _document_first(key, fields, attachment=attachment, parsed=parsed, single=single)
            if document.pk is None:  # another worker thread recorded it at the same moment
                document = Document.objects.select_for_update().get(**key)
            else:  # read from this copy, its only one, already: nothing to replace, nothing to choose
                copy_record(document=document, attachment=attachment, parsed=parsed, first=True)
                _references_replace(document, parsed, fresh=True)
                money_rows_replace(document, parsed, fresh=True)
                _link_earlier_records(document)
                return document  # its claim deadline was part of its INSERT
        copy = copy_record(document=document, attachment=attachment, parsed=parsed)
        was_read_from = document.xml_attachment_id
        chosen = copies_settle(document)
        if chosen is not None and chosen.pk == copy.pk:
            _read_from(document, attachment, parsed, fields)
            if was_read_from != attachment.pk or document.pdf_attachment_id is None:
                # the supplier PDF is that of the mail it is read from now
                _pdf_set(document, pdf_for(attachment=attachment, parsed=parsed, single=single))
        elif chosen is not None and chosen.attachment_id != was_read_from:
            _read_again_from(document, chosen)  # this copy was chosen, and no longer is
        if (
            document.pdf_attachment_id is None
            and chosen is not None
            and chosen.pk != copy.pk
            and chosen.content_hash == copy.content_hash
        ):
            # an identical resend may bring the PDF the first mail lacked; a conflicting copy may not
            _pdf_set(document, pdf_for(attachment=attachment, parsed=parsed, single=single))
        _link_earlier_records(document)
        claim_deadline_set(document)
    return document  # every write above kept the instance in step with its row


def _document_first(
    key: dict[str, Any], fields: dict[str, Any], *, attachment: Attachment, parsed: ParsedDocument, single: bool
) -> Document:
    """A new Document read from its first copy: fields, checks, supplier PDF and claim deadline in one INSERT.

    Call inside document_record's transaction. Unsaved (no pk) when another worker thread created it first.
    """
    checks = {
        "ted": CheckState(parsed.ted_check.state.value),
        "signature": CheckState(parsed.signature_check.state.value),
    }
    pdf = pdf_for(attachment=attachment, parsed=parsed, single=single)
    document = Document(
        **key,
        **fields,
        **checks,
        xml_attachment=attachment,
        pdf_attachment=pdf,
        printable_status=Document.PrintableStatus.ON_REQUEST,  # printed on its first request
    )
    # what claim_deadline_set would write right after: this copy's mail is the document's only one
    for name, value in claim_deadline_values(document, only_mail=attachment.message).items():
        setattr(document, name, value)
    try:
        with transaction.atomic():
            document.save(force_insert=True)
            return document
    except IntegrityError:
        return Document()


def _link_earlier_records(document: Document) -> None:
    """Notes, cesiones and receivers' answers of this mailbox that arrived before this document point at it.

    One query asks which kinds wait for it; only those are updated (most documents have none waiting).
    """
    waiting = {
        "waiting_references": DocumentReference.objects.filter(
            target__isnull=True,
            document__mailbox_id=document.mailbox_id,
            document__country=document.country,
            document__issuer_rut=document.issuer_rut,
            ref_type=str(document.doc_type),
            ref_folio=str(document.folio),
        ).exclude(document=document),
        "waiting_assignments": assignments_waiting(document),
        "waiting_responses": responses_waiting(document),
    }
    found = (
        Document.objects.filter(pk=document.pk)
        .annotate(**{kind: Exists(records) for kind, records in waiting.items()})
        .values(*waiting)
        .first()
    ) or {}
    if found.get("waiting_references"):
        waiting["waiting_references"].update(target=document)
    for kind in ("waiting_assignments", "waiting_responses"):
        if found.get(kind):
            waiting[kind].update(document=document)


def _read_from(document: Document, attachment: Attachment, parsed: ParsedDocument, fields: dict[str, Any]) -> None:
    """Rewrite the Document's fields, references and money rows from `parsed`, the copy `attachment` carries."""
    again = (  # another copy's printable: made again on its next request
        {}
        if document.xml_attachment_id == attachment.pk
        else {"printable_status": Document.PrintableStatus.ON_REQUEST, "printable_error": ""}
    )
    Document.objects.filter(pk=document.pk).update(**fields, **again, xml_attachment=attachment)
    for name, value in (fields | again).items():
        setattr(document, name, value)
    document.xml_attachment_id = attachment.pk
    _references_replace(document, parsed)
    money_rows_replace(document, parsed)


def _read_again_from(document: Document, copy: DocumentSource) -> None:
    """Read the Document from `copy`, recorded before: its stored XML is parsed again."""
    attachment = Attachment.objects.select_related("blob", "message").get(pk=copy.attachment_id)
    parsed_file = parsed_attachment(attachment)
    parsed = document_in(parsed_file, document, position=copy.position)
    if parsed is None:  # the stored file no longer reads as this document: a reprocess will settle it
        logger.warning("copy %s of document %s no longer reads as it", copy.attachment_id, document.pk)
        return
    _read_from(document, attachment, parsed, document_fields(parsed))
    _pdf_set(document, pdf_for(attachment=attachment, parsed=parsed, single=len(parsed_file.documents) == 1))
    # _read_from recorded its printable as made on request: that of the copy before is not this one's


def document_in(parsed: ParsedFile, document: Document, *, position: int) -> ParsedDocument | None:
    """The DTE of `parsed` that is `document`: the one at the copy's `position` when the file holds it twice."""
    key = (document.country, document.issuer_rut, document.doc_type, document.folio)
    same = [d for d in parsed.documents if (d.country, d.issuer_rut[:20], d.doc_type, d.folio) == key]
    return next((d for d in same if d.position == position), same[0] if same else None)


def _pdf_set(document: Document, pdf: Attachment | None) -> None:
    if document.pdf_attachment_id != (pdf.pk if pdf else None):
        Document.objects.filter(pk=document.pk).update(pdf_attachment=pdf)
        document.pdf_attachment = pdf


def _normal_folio(text: str) -> str:
    return str(int(text)) if ascii_digits(text) else text


def _references_replace(document: Document, parsed: ParsedDocument, *, fresh: bool = False) -> None:
    """Make the document's references those of `parsed`, updating rows in place (same ids when unchanged).

    `fresh`: the document was created a moment ago and has none yet.
    """
    lines = []
    for ref in parsed.references:
        if ref.line in lines:
            continue
        lines.append(ref.line)
        ref_type, ref_folio = ref.ref_type[:10], _normal_folio(ref.ref_folio)[:40]
        target = None
        if ascii_digits(ref_type) and ascii_digits(ref_folio):
            target = Document.objects.filter(
                mailbox_id=document.mailbox_id,
                country=document.country,
                issuer_rut=document.issuer_rut,
                doc_type=int(ref_type),
                folio=int(ref_folio),
            ).first()
        values = {
            "ref_type": ref_type,
            "ref_folio": ref_folio,
            "ref_date": ref.ref_date,
            "code": ref.code,
            "reason": ref.reason[:200],
            "target": target,
        }
        if fresh:
            DocumentReference.objects.create(document=document, line=ref.line, **values)
        else:
            DocumentReference.objects.update_or_create(document=document, line=ref.line, defaults=values)
    if not fresh:
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
