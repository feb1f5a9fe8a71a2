"""Values no DTE may hold (NaN, Infinity, 1E+25, a negative folio, a "²" where digits go) are problems, not crashes.

Each is read into a problem recorded for people; the document is still recorded when it can be
(or refused with the reason when its folio is junk), its printable is drawn, and nothing raises:
an exception would only be retried on the same bytes.
"""

from __future__ import annotations

from datetime import date

import pytest

from pipeline import samples
from pipeline.actors import render_attachment
from pipeline.dte import Kind, parse_file
from pipeline.render.printable import printable_pdf
from tests.support.printables import make_printables
from tests.unit.test_documents import mail
from webapp.documents.models import Document, DocumentReference, XmlClassification
from webapp.inbox.models import Attachment, Mailbox

#: A credit note that corrects invoice 1234: it has detail lines, totals and a reference.
NOTE = samples.dte_xml(doc_type=61, folio=77, reference=samples.Reference(folio=1234, issue_date=date(2024, 5, 1)))

JUNK = {
    "nan-price": (b"<PrcItem>12990</PrcItem>", b"<PrcItem>NaN</PrcItem>", "line 1: PrcItem 'NaN' is not a number"),
    "infinite-price": (
        b"<PrcItem>12990</PrcItem>",
        b"<PrcItem>Infinity</PrcItem>",
        "line 1: PrcItem 'Infinity' is not a number",
    ),
    "infinite-total": (
        b"<MntTotal>66485</MntTotal>",
        b"<MntTotal>Infinity</MntTotal>",
        "MntTotal 'Infinity' is not an amount of at most 18 digits",
    ),
    "huge-total": (
        b"<MntTotal>66485</MntTotal>",
        b"<MntTotal>1E+25</MntTotal>",
        "MntTotal '1E+25' is not an amount of at most 18 digits",
    ),
    "superscript-folio-ref": (
        b"<FolioRef>1234</FolioRef>",
        "<FolioRef>²</FolioRef>".encode("iso-8859-1"),
        "reference 1: FolioRef '²' holds digits other than 0-9",
    ),
    "superscript-type-ref": (
        b"<TpoDocRef>33</TpoDocRef>",
        "<TpoDocRef>3³</TpoDocRef>".encode("iso-8859-1"),
        "reference 1: TpoDocRef '3³' holds digits other than 0-9",
    ),
}
REFUSED = {
    "negative-folio": (b"<Folio>77</Folio>", b"<Folio>-77</Folio>"),
    "huge-folio": (b"<Folio>77</Folio>", b"<Folio>99999999999999999999999</Folio>"),
}


def junk(old: bytes, new: bytes) -> bytes:
    data = NOTE.replace(old, new, 1)
    assert data != NOTE
    return data


@pytest.mark.parametrize("case", JUNK)
def test_a_junk_value_is_a_problem_and_the_document_still_prints(case):
    old, new, problem = JUNK[case]
    parsed = parse_file(junk(old, new))
    assert parsed.kind is Kind.ENVELOPE
    assert [p.partition("; ")[0] for p in parsed.problems] == [f"DTE #1: {problem}"]
    (document,) = parsed.documents
    assert document.folio == 77
    assert printable_pdf(document).startswith(b"%PDF")


@pytest.mark.parametrize("case", REFUSED)
def test_a_junk_folio_refuses_that_dte_with_the_reason(case):
    parsed = parse_file(junk(*REFUSED[case]))
    assert parsed.documents == []
    assert len(parsed.problems) == 1 and parsed.problems[0].startswith("DTE #1: no valid TipoDTE/Folio")


@pytest.fixture
def mailbox():
    return Mailbox.objects.create(name="junk", settings={"path": "/tmp/none"})


@pytest.mark.django_db
@pytest.mark.parametrize("case", JUNK)
def test_the_render_actor_records_a_document_with_junk_and_says_what(mailbox, case):
    old, new, problem = JUNK[case]
    (xml,) = mail(mailbox, ("nota.xml", "application/xml", junk(old, new)))
    render_attachment(xml.pk)  # returns: nothing to retry
    classification = XmlClassification.objects.get(attachment=xml)
    assert classification.status == XmlClassification.Status.PARSED
    assert problem in classification.error
    document = Document.objects.get(folio=77)
    assert document.printable_status == Document.PrintableStatus.ON_REQUEST
    assert DocumentReference.objects.filter(document=document).count() == 1
    (document,) = make_printables()  # its first request prints the junk as blanks, parsed again from the file
    assert document.printable_status == Document.PrintableStatus.READY, document.printable_error
    xml.refresh_from_db()
    assert xml.preview_status == Attachment.PreviewStatus.READY


@pytest.mark.django_db
@pytest.mark.parametrize("case", REFUSED)
def test_the_render_actor_fails_a_dte_with_a_junk_folio_on_the_first_try(mailbox, case):
    (xml,) = mail(mailbox, ("nota.xml", "application/xml", junk(*REFUSED[case])))
    render_attachment(xml.pk)
    assert not Document.objects.exists()
    xml.refresh_from_db()
    assert xml.preview_status == Attachment.PreviewStatus.FAILED
    assert "no valid TipoDTE/Folio" in xml.preview_error
