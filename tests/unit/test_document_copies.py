"""Copies of a DTE: each XML that carried it is kept with its checks; the Document is read from the chosen
copy (a TED that verifies, whatever the order of arrival); copies that say different things are a
conflict, identical resends are not; and nothing crosses mailboxes.

The checks are set on the parsed documents here, so these hold whether or not the parser checks TEDs.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import zipfile
from datetime import date

import pytest
from django.urls import reverse

from pipeline import samples
from pipeline.dte import Kind, ParsedFile
from pipeline.dte.model import Check, CheckState, ParsedAssignment
from tests.support import response_cases
from tests.support.printables import make_printables
from tests.unit.test_document_money_records import xml_attachment
from webapp.documents.models import Document, DocumentAssignment, DocumentLine, DocumentResponse, DocumentSource
from webapp.documents.services.assignments import assignments_record
from webapp.documents.services.documents import parsed_attachment, xml_attachment_process, xml_attachment_record
from webapp.inbox.models import Attachment, Mailbox

pytestmark = pytest.mark.django_db

FOLIO = 4711
GENUINE = samples.dte_xml(folio=FOLIO, receiver_name="Receptor Verdadero SpA", lines=(("Cafe de grano", 10, 12_500),))
#: The same document re-encoded and resent without its envelope: other bytes, the same content.
RESENT = samples.dte_xml(
    folio=FOLIO,
    receiver_name="Receptor Verdadero SpA",
    lines=(("Cafe de grano", 10, 12_500),),
    envelope=False,
    encoding="UTF-8",
)
#: What someone made of it: another receiver, another amount, the same key.
FORGED = samples.dte_xml(folio=FOLIO, receiver_name="Receptor Inventado Ltda", lines=(("Cualquier cosa", 1, 1),))

UNCHECKED = Check()
VALID = Check(CheckState.VALID)
INVALID = Check(CheckState.INVALID, "FRMT does not verify with the CAF's key")


@pytest.fixture
def mailbox():
    return Mailbox.objects.create(name="norte", settings={"path": "/tmp/none"})


@pytest.fixture
def other_mailbox():
    return Mailbox.objects.create(name="sur", settings={"path": "/tmp/none"})


def arrive(mailbox: Mailbox, xml: bytes, *, ted: Check = UNCHECKED, signature: Check = UNCHECKED) -> Attachment:
    """A mail of `mailbox` carrying `xml`, stored and recorded as the pipeline does, with the checks given."""
    attachment = xml_attachment(mailbox, xml)
    record(attachment, ted=ted, signature=signature)
    return attachment


def record(attachment: Attachment, *, ted: Check = UNCHECKED, signature: Check = UNCHECKED) -> None:
    parsed = parsed_attachment(attachment)
    documents = [dataclasses.replace(doc, ted_check=ted, signature_check=signature) for doc in parsed.documents]
    assert documents, parsed.problems
    xml_attachment_record(attachment=attachment, parsed=dataclasses.replace(parsed, documents=documents))


def the_document(mailbox: Mailbox, folio: int = FOLIO) -> Document:
    return Document.objects.get(mailbox=mailbox, doc_type=33, folio=folio)


def state(document: Document) -> dict:
    document.refresh_from_db()
    return {
        "receiver": document.receiver_name,
        "total": document.total,
        "xml": document.xml_attachment_id,
        "ted": document.ted,
        "signature": document.signature,
        "conflict": document.conflict,
        "printable": (document.printable_status, document.printable_name),
        "lines": list(DocumentLine.objects.filter(document=document).values_list("name", "amount")),
        "copies": list(
            document.sources.order_by("attachment_id").values_list(
                "attachment_id", "ted", "ted_error", "signature", "content_hash", "chosen", "checked_at"
            )
        ),
    }


def test_an_identical_resend_is_one_more_copy_and_no_conflict(mailbox):
    first = arrive(mailbox, GENUINE)
    resend = arrive(mailbox, RESENT)

    document = the_document(mailbox)
    copies = list(document.sources.order_by("attachment_id"))
    assert [copy.attachment_id for copy in copies] == [first.pk, resend.pk]
    assert copies[0].content_hash == copies[1].content_hash != ""
    assert not document.conflict
    assert [copy.chosen for copy in copies] == [True, False]
    assert document.xml_attachment_id == first.pk
    assert copies[1].content["receiver_name"] == "Receptor Verdadero SpA"


def test_an_edited_copy_is_a_conflict_with_both_copies_kept_and_a_warning(mailbox, caplog):
    first = arrive(mailbox, GENUINE)
    with caplog.at_level(logging.WARNING, logger="webapp.documents.services.copies"):
        edited = arrive(mailbox, FORGED)

    document = the_document(mailbox)
    copies = {copy.attachment_id: copy for copy in document.sources.all()}
    assert set(copies) == {first.pk, edited.pk}
    assert copies[first.pk].content_hash != copies[edited.pk].content_hash
    assert copies[edited.pk].content["receiver_name"] == "Receptor Inventado Ltda"
    assert document.conflict
    assert "conflicting copies" in caplog.text and str(edited.pk) in caplog.text
    # neither TED verifies: the first to arrive stays what the Document says
    assert (document.receiver_name, document.xml_attachment_id) == ("Receptor Verdadero SpA", first.pk)


@pytest.mark.parametrize("forged_first", [False, True], ids=["genuine first", "forged first"])
def test_the_copy_whose_ted_verifies_is_chosen_whatever_the_order_of_arrival(mailbox, forged_first):
    if forged_first:
        forged = arrive(mailbox, FORGED, ted=INVALID)
        assert the_document(mailbox).receiver_name == "Receptor Inventado Ltda"  # the only copy, for now
        genuine = arrive(mailbox, GENUINE, ted=VALID)
    else:
        genuine = arrive(mailbox, GENUINE, ted=VALID)
        forged = arrive(mailbox, FORGED, ted=INVALID)

    document = the_document(mailbox)
    now = state(document)
    assert now["receiver"] == "Receptor Verdadero SpA" and now["total"] == 148_750
    assert now["lines"] == [("Cafe de grano", 125_000)]
    assert (now["xml"], now["ted"], now["conflict"]) == (genuine.pk, "valid", True)
    assert now["printable"][0] == Document.PrintableStatus.ON_REQUEST  # drawn, from the chosen copy, when asked
    make_printables([document])
    assert state(document)["printable"][0] == Document.PrintableStatus.READY
    chosen = {copy[0]: copy[5] for copy in now["copies"]}
    assert chosen == {genuine.pk: True, forged.pk: False}
    assert DocumentSource.objects.get(attachment=forged).ted_error == INVALID.reason


def test_the_printable_is_made_again_from_the_genuine_copy_when_it_arrives_second(mailbox, other_mailbox):
    arrive(mailbox, FORGED, ted=INVALID)
    make_printables()  # someone opened it: the forged copy's printable
    forged_printable = state(the_document(mailbox))["printable"]
    assert forged_printable[0] == Document.PrintableStatus.READY
    arrive(mailbox, GENUINE, ted=VALID)
    assert state(the_document(mailbox))["printable"][0] == Document.PrintableStatus.ON_REQUEST, "to be made again"
    arrive(other_mailbox, GENUINE, ted=VALID)  # what the genuine copy alone prints
    make_printables()

    assert state(the_document(mailbox))["printable"] == state(the_document(other_mailbox))["printable"]
    assert state(the_document(mailbox))["printable"] != forged_printable


def test_a_copy_recorded_again_changes_nothing(mailbox):
    genuine = arrive(mailbox, GENUINE, ted=VALID)
    forged = arrive(mailbox, FORGED, ted=INVALID)
    before = state(the_document(mailbox))

    record(forged, ted=INVALID)
    record(genuine, ted=VALID)

    assert state(the_document(mailbox)) == before


def test_a_chosen_copy_that_no_longer_verifies_gives_way_and_the_document_is_read_again(mailbox):
    forged = arrive(mailbox, FORGED, ted=INVALID)
    genuine = arrive(mailbox, GENUINE, ted=VALID)
    assert the_document(mailbox).xml_attachment_id == genuine.pk

    record(genuine, ted=INVALID)  # say, a parser that checks more finds it does not verify either

    now = state(the_document(mailbox))
    assert (now["xml"], now["ted"], now["receiver"]) == (forged.pk, "invalid", "Receptor Inventado Ltda")
    assert now["lines"] == [("Cualquier cosa", 1)]


def test_the_same_key_in_two_mailboxes_is_two_documents_each_with_its_own_fields(mailbox, other_mailbox):
    theirs = arrive(other_mailbox, FORGED, ted=VALID)  # even a copy that verifies decides nothing elsewhere
    own = arrive(mailbox, GENUINE)

    mine, other = the_document(mailbox), the_document(other_mailbox)
    assert mine.pk != other.pk
    assert (mine.receiver_name, mine.xml_attachment_id, mine.conflict) == ("Receptor Verdadero SpA", own.pk, False)
    assert (other.receiver_name, other.xml_attachment_id) == ("Receptor Inventado Ltda", theirs.pk)
    assert list(mine.sources.values_list("attachment_id", flat=True)) == [own.pk]
    assert list(DocumentLine.objects.filter(document=mine).values_list("name", flat=True)) == ["Cafe de grano"]


def _note(folio: int, refers_to: int) -> bytes:
    return samples.dte_xml(
        doc_type=61,
        folio=folio,
        reference=samples.Reference(folio=refers_to, issue_date=date(2024, 5, 14)),
        envelope=False,
    )


@pytest.mark.parametrize("note_first", [False, True], ids=["invoice first", "note first"])
def test_a_reference_links_only_to_a_document_of_its_own_mailbox(mailbox, other_mailbox, note_first):
    if note_first:
        arrive(mailbox, _note(9, refers_to=FOLIO))
        arrive(other_mailbox, GENUINE)
    else:
        arrive(other_mailbox, GENUINE)
        arrive(mailbox, _note(9, refers_to=FOLIO))
    note = Document.objects.get(mailbox=mailbox, doc_type=61, folio=9)
    assert note.references.get().target is None, "the invoice only the other mailbox received"

    arrive(mailbox, GENUINE)
    assert note.references.get().target == the_document(mailbox)
    assert not the_document(other_mailbox).referenced_by.exists()


def test_a_cesion_links_only_to_the_invoice_of_its_own_mailbox(mailbox, other_mailbox):
    arrive(other_mailbox, GENUINE)
    invoice = the_document(other_mailbox)
    cesion = ParsedAssignment(
        sequence=1,
        issuer_rut=invoice.issuer_rut,
        doc_type=33,
        folio=FOLIO,
        issue_date=invoice.issue_date,
        invoice_total=invoice.total,
        assignor_rut=invoice.issuer_rut,
        assignor_name=invoice.issuer_name,
        assignee_rut="76111222-8",
        assignee_name="Factoring Andino SpA",
        assignee_email="",
        amount=invoice.total,
        assigned_at=None,
        last_due_date=None,
    )
    aec = xml_attachment(mailbox)
    assignments_record(attachment=aec, parsed=ParsedFile(format="AEC", kind=Kind.ASSIGNMENT, assignments=[cesion]))
    assert DocumentAssignment.objects.get(attachment=aec).document is None

    arrive(mailbox, GENUINE)  # the mailbox's own invoice arrives: the cesión is its
    assert DocumentAssignment.objects.get(attachment=aec).document == the_document(mailbox)
    assert not DocumentAssignment.objects.filter(document=invoice).exists()


def test_a_zip_of_both_mailboxes_documents_of_one_key_holds_each(admin_client, mailbox, other_mailbox):
    arrive(mailbox, GENUINE)
    arrive(other_mailbox, FORGED)
    mine, theirs = the_document(mailbox), the_document(other_mailbox)

    response = admin_client.post(
        reverse("admin:documents_document_changelist"),
        {"action": "download_zip", "_selected_action": [mine.pk, theirs.pk]},
    )

    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    xml = sorted(name for name in archive.namelist() if name.endswith(".xml"))
    assert len(xml) == 2, archive.namelist()
    receivers = b"".join(archive.read(name) for name in xml)
    assert b"Receptor Verdadero SpA" in receivers and b"Receptor Inventado Ltda" in receivers


def test_a_copy_recorded_before_copies_had_a_hash_makes_no_conflict_with_a_new_one(mailbox):
    first = arrive(mailbox, GENUINE)
    DocumentSource.objects.filter(attachment=first).update(content_hash="", content={})  # as migration 0004 left it
    arrive(mailbox, FORGED)
    assert not the_document(mailbox).conflict

    record(first)  # read again (reprocess_documents): now the two are compared
    assert the_document(mailbox).conflict


def test_a_receivers_answer_is_read_by_the_pipeline_and_linked_to_its_mailboxs_invoice(mailbox, other_mailbox):
    answer = xml_attachment(mailbox, response_cases.envio_recibos())
    xml_attachment_process(attachment=answer)
    (row,) = DocumentResponse.objects.filter(attachment=answer)
    assert row.document is None and row.kind == "receipt"

    elsewhere = xml_attachment(other_mailbox, samples.dte_xml())
    xml_attachment_process(attachment=elsewhere)
    row.refresh_from_db()
    assert row.document is None, "the other mailbox's invoice is not this mailbox's"

    invoice = xml_attachment(mailbox, samples.dte_xml())
    xml_attachment_process(attachment=invoice)
    row.refresh_from_db()
    assert row.document == Document.objects.get(mailbox=mailbox, doc_type=33, folio=1234)


@pytest.mark.parametrize("forged_first", [False, True], ids=["genuine first", "forged first"])
def test_the_parsers_own_ted_check_chooses_the_genuine_copy_in_either_order(mailbox, forged_first):
    """No check set by hand: the pipeline reads each copy from storage and checks its TED itself."""
    forged_xml = samples.dte_xml(
        folio=FOLIO, receiver_name="Receptor Inventado Ltda", lines=(("Cualquier cosa", 1, 1),), ted="forged"
    )
    order = (forged_xml, GENUINE) if forged_first else (GENUINE, forged_xml)
    arrived = [xml_attachment(mailbox, xml) for xml in order]
    for attachment in arrived:
        xml_attachment_process(attachment=attachment)
    forged, genuine = arrived if forged_first else arrived[::-1]

    now = state(the_document(mailbox))
    assert (now["xml"], now["receiver"], now["ted"], now["conflict"]) == (
        genuine.pk,
        "Receptor Verdadero SpA",
        "valid",
        True,
    )
    assert DocumentSource.objects.get(attachment=forged).ted == "invalid"
