"""Documents as a user limited to some mailboxes may have them.

A document is one per issuer, type and folio, shared by every mailbox whose mail carried it; its
files are not: `xml_attachment` is the XML it was first read from, and `pdf_attachment` the PDF of
that mail, whichever mailbox that was. Another mailbox's XML may be an envelope with documents of
its own, so a user gets the XML of one of their own mails instead, and no supplier PDF of another
mailbox (the printable PDF is made from the document alone).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from django.db.models import QuerySet

from webapp.inbox.models import Attachment

from .models import Document, DocumentSource

#: Documents looked at per pair of queries.
BATCH = 200


def documents_of_mailboxes(queryset: QuerySet[Document], mailbox_ids: set[int] | None) -> QuerySet[Document]:
    """The documents of `queryset` carried by a mail of `mailbox_ids` (None: all)."""
    if mailbox_ids is None:
        return queryset
    return queryset.filter(pk__in=sources_of_mailboxes(mailbox_ids).values("document_id"))


def sources_of_mailboxes(mailbox_ids: set[int]) -> QuerySet[DocumentSource]:
    return DocumentSource.objects.filter(attachment__message__mailbox_id__in=mailbox_ids)


def with_own_files(documents: Iterable[Document], mailbox_ids: set[int] | None) -> Iterator[Document]:
    """Each document with its XML and PDF attachments replaced, where another mailbox's, by the
    XML of one of `mailbox_ids`' mails and no PDF (None: everyone's, unchanged)."""
    if mailbox_ids is None:
        yield from documents
        return
    iterator = iter(documents)
    while batch := list(islice(iterator, BATCH)):
        wanted = {pk for document in batch for pk in (document.xml_attachment_id, document.pdf_attachment_id) if pk}
        own = set(
            Attachment.objects.filter(pk__in=wanted, message__mailbox_id__in=mailbox_ids).values_list("pk", flat=True)
        )
        lacking = [document.pk for document in batch if document.xml_attachment_id not in own]
        replacements: dict[int, Attachment] = {}
        sources = sources_of_mailboxes(mailbox_ids).filter(document_id__in=lacking).select_related("attachment__blob")
        for source in sources.order_by("document_id", "attachment_id"):
            replacements.setdefault(source.document_id, source.attachment)
        for document in batch:
            if document.xml_attachment_id not in own:
                document.xml_attachment = replacements.get(document.pk)
            if document.pdf_attachment_id not in own:
                document.pdf_attachment = None
            yield document
