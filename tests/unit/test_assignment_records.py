"""Cesiones read from AEC files: one row per cesión and file, linked to the invoice whether the AEC
arrives before or after it, the latest one its present owner, reprocessing doubling nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from pipeline.dte import Kind, ParsedDocument, ParsedFile
from pipeline.dte.model import ParsedAssignment, ParsedLine
from tests.support.printables import make_printables
from tests.unit.test_document_money_records import dte, xml_attachment
from webapp.documents.models import Document, DocumentAssignment, DocumentSource
from webapp.documents.services import printable_requests
from webapp.documents.services.assignments import assignments_record, current_assignment
from webapp.documents.services.documents import document_record, xml_attachment_record, xml_attachment_reset
from webapp.inbox.models import Attachment, Mailbox

pytestmark = pytest.mark.django_db

CHILE_SUMMER = timezone(timedelta(hours=-3))

INVOICE = dte(
    folio=4711,
    net=1_000_000,
    vat=190_000,
    total=1_190_000,
    due_date=date(2025, 4, 13),
    lines=(
        ParsedLine(name="Café de grano 1 kg", quantity="80", unit_price="12500", amount=Decimal(1_000_000), number=1),
    ),
)

TO_FACTORING = ParsedAssignment(
    sequence=1,
    issuer_rut="76086428-5",
    doc_type=33,
    folio=4711,
    issue_date=date(2025, 3, 14),
    invoice_total=1_190_000,
    assignor_rut="76086428-5",
    assignor_name="Proveedora Austral SpA",
    assignee_rut="76111222-8",
    assignee_name="Factoring Andino SpA",
    assignee_email="operaciones@factoringandino.cl",
    amount=1_190_000,
    assigned_at=datetime(2025, 3, 20, 10, 15, tzinfo=CHILE_SUMMER),
    last_due_date=date(2025, 4, 13),
)
TO_FUND = dataclasses.replace(
    TO_FACTORING,
    sequence=2,
    assignor_rut="76111222-8",
    assignor_name="Factoring Andino SpA",
    assignee_rut="77222333-1",
    assignee_name="Fondo de Inversión Cordillera",
    assignee_email="cesiones@fondocordillera.cl",
    assigned_at=datetime(2025, 3, 27, 16, 40, tzinfo=CHILE_SUMMER),
)
TO_BANK = dataclasses.replace(
    TO_FUND,
    sequence=3,
    assignor_rut="77222333-1",
    assignor_name="Fondo de Inversión Cordillera",
    assignee_rut="78333444-5",
    assignee_name="Banco del Pacífico Sur",
    assignee_email="",
    assigned_at=datetime(2025, 4, 2, 9, 0, tzinfo=CHILE_SUMMER),
)


@pytest.fixture
def mailbox():
    return Mailbox.objects.create(name="suppliers", settings={"path": "/tmp/none"})


def aec(*assignments: ParsedAssignment, documents: tuple[ParsedDocument, ...] = (INVOICE,)) -> ParsedFile:
    """An AEC as the parser gives it: its cesiones, and the DTE it carries."""
    return ParsedFile(
        format="sii-aec",
        kind=Kind.ASSIGNMENT,
        documents=list(documents),
        assignments=list(assignments),
        summary=f"AEC of 33-4711 with {len(assignments)} cesiones",
    )


def invoice_mail(attachment: Attachment) -> Document:
    xml_attachment_record(
        attachment=attachment, parsed=ParsedFile(format="sii-dte", kind=Kind.DOCUMENT, documents=[INVOICE])
    )
    return Document.objects.get(issuer_rut="76086428-5", doc_type=33, folio=4711)


def assignees(rows) -> list[tuple[int, str, str]]:
    return [(row.sequence, row.assignor_name, row.assignee_name) for row in rows]


def test_two_cesion_aec_after_its_invoice_is_linked_and_the_latest_owns_it(mailbox):
    invoice = invoice_mail(xml_attachment(mailbox))
    file = xml_attachment(mailbox)

    xml_attachment_record(attachment=file, parsed=aec(TO_FACTORING, TO_FUND))

    rows = list(DocumentAssignment.objects.filter(attachment=file).order_by("sequence"))
    assert assignees(rows) == [
        (1, "Proveedora Austral SpA", "Factoring Andino SpA"),
        (2, "Factoring Andino SpA", "Fondo de Inversión Cordillera"),
    ]
    assert all(row.document_id == invoice.pk for row in rows)
    first = rows[0]
    assert (first.country, first.issuer_rut, first.doc_type, first.folio) == ("CL", "76086428-5", 33, 4711)
    assert (first.assignor_rut, first.assignee_rut, first.assignee_email) == (
        "76086428-5",
        "76111222-8",
        "operaciones@factoringandino.cl",
    )
    assert (first.amount, first.assigned_at, first.last_due_date) == (
        1_190_000,
        datetime(2025, 3, 20, 13, 15, tzinfo=UTC),
        date(2025, 4, 13),
    )
    owner = current_assignment(invoice)
    assert owner is not None and (owner.sequence, owner.assignee_rut) == (2, "77222333-1")
    # The DTE inside the AEC is one more source of the same invoice, not a second Document.
    assert Document.objects.count() == 1
    assert set(DocumentSource.objects.filter(document=invoice).values_list("attachment_id", flat=True)) == {
        invoice.xml_attachment_id,
        file.pk,
    }


def test_two_cesion_aec_before_its_invoice_records_the_invoice_from_its_dte(mailbox):
    file = xml_attachment(mailbox)
    xml_attachment_record(attachment=file, parsed=aec(TO_FACTORING, TO_FUND))
    invoice = Document.objects.get(folio=4711)
    assert invoice.xml_attachment_id == file.pk
    assert invoice.total == 1_190_000

    later = xml_attachment(mailbox)
    assert invoice_mail(later).pk == invoice.pk

    assert DocumentAssignment.objects.filter(document=invoice).count() == 2
    assert current_assignment(invoice).assignee_name == "Fondo de Inversión Cordillera"
    assert invoice.sources.count() == 2


def test_cesiones_of_an_invoice_not_yet_known_are_linked_when_it_arrives(mailbox):
    file = xml_attachment(mailbox)
    # An AEC whose DTE could not be read: its cesiones wait for their invoice.
    waiting = assignments_record(attachment=file, parsed=aec(TO_FACTORING, TO_FUND, documents=()))
    assert [row.document_id for row in waiting] == [None, None]

    invoice = document_record(attachment=xml_attachment(mailbox), parsed=INVOICE)

    assert set(DocumentAssignment.objects.values_list("document_id", flat=True)) == {invoice.pk}
    assert current_assignment(invoice).sequence == 2


def test_an_aec_preview_is_its_dtes_printable_and_none_without_one(mailbox, monkeypatch):
    with_dte, unprintable, without = xml_attachment(mailbox), xml_attachment(mailbox), xml_attachment(mailbox)
    too_large_ted = dataclasses.replace(INVOICE, folio=4712, ted=b"<TED>" + b"x" * 3000 + b"</TED>")

    xml_attachment_record(attachment=with_dte, parsed=aec(TO_FACTORING))
    xml_attachment_record(attachment=unprintable, parsed=aec(documents=(too_large_ted,)))
    xml_attachment_record(attachment=without, parsed=aec(TO_FACTORING, documents=()))
    assert set(Document.objects.values_list("printable_status", flat=True)) == {Document.PrintableStatus.ON_REQUEST}

    # Made on their first request: the stored files here are stand-ins, so the DTE "parsed again" is the one above.
    parsed = {INVOICE.folio: INVOICE, too_large_ted.folio: too_large_ted}
    monkeypatch.setattr(printable_requests, "_parsed_again", lambda document: (parsed[document.folio], ""))
    make_printables()
    invoice = Document.objects.get(folio=4711)
    assert invoice.printable_status == Document.PrintableStatus.READY
    assert Document.objects.get(folio=4712).printable_status == Document.PrintableStatus.FAILED
    previews = {a.pk: a for a in Attachment.objects.filter(pk__in=[with_dte.pk, unprintable.pk, without.pk])}
    assert (previews[with_dte.pk].preview_status, previews[with_dte.pk].preview_name) == (
        Attachment.PreviewStatus.READY,
        invoice.preview_name,
    )
    # A cesión is no document to print: no printable is no failure of the file.
    for attachment in (unprintable, without):
        assert (previews[attachment.pk].preview_status, previews[attachment.pk].preview_error) == (
            Attachment.PreviewStatus.NONE,
            "",
        )
    assert without.xml_classification.kind == "assignment"


def test_an_aec_reprocessed_does_not_double_its_cesiones(mailbox):
    file = xml_attachment(mailbox)
    xml_attachment_record(attachment=file, parsed=aec(TO_FACTORING, TO_FUND))
    before = list(DocumentAssignment.objects.order_by("pk").values())

    xml_attachment_reset(attachment_ids=[file.pk])
    xml_attachment_record(attachment=file, parsed=aec(TO_FACTORING, TO_FUND))
    assignments_record(attachment=file, parsed=aec(TO_FACTORING, TO_FUND))

    assert list(DocumentAssignment.objects.order_by("pk").values()) == before
    assert len(before) == 2


def test_a_file_that_now_states_fewer_cesiones_keeps_only_those(mailbox):
    file = xml_attachment(mailbox)
    assignments_record(attachment=file, parsed=aec(TO_FACTORING, TO_FUND))

    kept = assignments_record(attachment=file, parsed=aec(TO_FACTORING))

    assert assignees(kept) == [(1, "Proveedora Austral SpA", "Factoring Andino SpA")]
    assert DocumentAssignment.objects.filter(attachment=file).count() == 1


def test_a_later_aec_makes_its_last_assignee_the_owner(mailbox):
    invoice = invoice_mail(xml_attachment(mailbox))
    xml_attachment_record(attachment=xml_attachment(mailbox), parsed=aec(TO_FACTORING, TO_FUND))
    assert current_assignment(invoice).sequence == 2

    # The AEC of a third cesión carries the two before it too: each file keeps its own rows.
    xml_attachment_record(attachment=xml_attachment(mailbox), parsed=aec(TO_FACTORING, TO_FUND, TO_BANK))

    assert DocumentAssignment.objects.filter(document=invoice).count() == 5
    owner = current_assignment(invoice)
    assert (owner.sequence, owner.assignee_name, owner.assignee_rut) == (3, "Banco del Pacífico Sur", "78333444-5")


def test_a_document_never_assigned_has_no_current_assignment(mailbox):
    assert current_assignment(invoice_mail(xml_attachment(mailbox))) is None


def test_a_cesion_no_column_holds_is_left_out_and_long_names_clipped(mailbox):
    file = xml_attachment(mailbox)
    absurd = dataclasses.replace(TO_FACTORING, folio=10**20)
    long_name = dataclasses.replace(TO_FUND, assignee_name="Fondo " * 50, amount=10**19)

    rows = assignments_record(attachment=file, parsed=aec(absurd, long_name, documents=()))

    assert [(row.sequence, row.assignee_name, row.amount) for row in rows] == [(2, ("Fondo " * 50)[:200], None)]
