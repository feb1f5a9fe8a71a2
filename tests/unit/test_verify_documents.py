"""manage.py verify_documents: every copy's stored XML read again, checked again, chosen again; a report for
people, a JSON list for machines, exit status 1 when a Document is read from a copy whose TED fails."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline.config import BASE_DIR
from tests.unit.test_document_copies import FORGED, GENUINE, INVALID, VALID, arrive, the_document
from webapp.documents.models import Document, DocumentSource
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db

STATES = {"valid", "invalid", "missing", "unchecked"}
REAL = (BASE_DIR / "tests/data/cl-sii/DTE--60910000-1--33--2336600.xml").read_bytes()
#: The real invoice with its total changed after it was signed and stamped.
EDITED = REAL.replace(b"<MntTotal>10642</MntTotal>", b"<MntTotal>99642</MntTotal>")


@pytest.fixture
def mailboxes():
    return (
        Mailbox.objects.create(name="norte", settings={"path": "/tmp/none"}),
        Mailbox.objects.create(name="sur", settings={"path": "/tmp/none"}),
    )


def verify(*args: str) -> tuple[str, int]:
    out = io.StringIO()
    try:
        call_command("verify_documents", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


def test_json_lists_every_document_with_its_copies_and_their_states(mailboxes):
    norte, sur = mailboxes
    genuine, forged = arrive(norte, GENUINE), arrive(norte, FORGED)
    elsewhere = arrive(sur, GENUINE)

    output, status = verify("--json")

    listed = json.loads(output)
    assert status == 0
    by_mailbox = {entry["copies"][0]["mailbox"]: entry for entry in listed}
    assert set(by_mailbox) == {norte.pk, sur.pk}
    for entry in listed:
        assert set(entry) == {"issuer", "type", "folio", "conflict", "signature", "copies"}
        assert (entry["issuer"], entry["type"], entry["folio"]) == ("76086428-5", 33, 4711)
        assert entry["signature"] in STATES
        for copy in entry["copies"]:
            assert set(copy) == {"attachment", "mailbox", "ted", "signature", "chosen"}
            assert copy["ted"] in STATES and copy["signature"] in STATES
    assert by_mailbox[norte.pk]["conflict"] is True and by_mailbox[sur.pk]["conflict"] is False
    assert [(c["attachment"], c["mailbox"]) for c in by_mailbox[norte.pk]["copies"]] == [
        (genuine.pk, norte.pk),
        (forged.pk, norte.pk),
    ]
    assert [c["attachment"] for c in by_mailbox[sur.pk]["copies"]] == [elsewhere.pk]
    assert sum(c["chosen"] for entry in listed for c in entry["copies"]) == 2


def test_the_report_names_the_conflict_with_its_copies_then_counts(mailboxes):
    norte, sur = mailboxes
    genuine, forged = arrive(norte, GENUINE), arrive(norte, FORGED)
    arrive(sur, GENUINE)

    output, status = verify()

    assert status == 0
    document = the_document(norte)
    assert f"76086428-5 type 33 folio 4711 (document {document.pk}, mailbox {norte.pk})" in output
    assert "its copies say different things" in output
    assert f"chosen attachment {genuine.pk}: TED " in output and f"attachment {forged.pk}: TED " in output
    assert f"mailbox {sur.pk})" not in output, "a document without problems is only counted"
    assert "2 documents, 3 copies checked; 1 with problems" in output
    assert "1 with conflicting copies" in output


def test_a_document_read_from_a_copy_whose_ted_fails_exits_1(mailboxes):
    norte, _sur = mailboxes
    forged = arrive(norte, FORGED, ted=INVALID)
    # its stored XML is gone: what was recorded of it is what there is to report
    storages["default"].delete(forged.blob.storage_name)

    output, status = verify()

    assert status == 1
    assert "the chosen copy's TED is invalid" in output and "could not be read again" in output
    assert (
        f"chosen attachment {forged.pk}: TED invalid, signature unchecked (FRMT does not verify with the CAF's key; "
        in output
    )
    assert json.loads(verify("--json")[0])[0]["copies"][0]["ted"] == "invalid"


def test_a_real_invoice_edited_after_signing_is_judged_by_the_parsers_check(mailboxes):
    """The command re-checks with the parser: the copy edited after signing fails its TED, and the exit is 1."""
    norte, sur = mailboxes
    arrive(norte, EDITED, ted=VALID)  # what was recorded does not count: the XML is read again
    arrive(sur, REAL)

    output, status = verify("--json")

    listed = {entry["copies"][0]["mailbox"]: entry for entry in json.loads(output)}
    assert {mailbox: entry["copies"][0]["ted"] for mailbox, entry in listed.items()} == {
        norte.pk: "invalid",
        sur.pk: "valid",
    }
    assert status == 1
    assert listed[norte.pk]["issuer"] == "60910000-1" and listed[norte.pk]["folio"] == 2336600


def test_it_changes_nothing(mailboxes):
    norte, _sur = mailboxes
    arrive(norte, GENUINE, ted=VALID)
    arrive(norte, FORGED, ted=INVALID)
    before = list(DocumentSource.objects.values()), list(Document.objects.values())

    verify()
    verify("--json")

    assert (list(DocumentSource.objects.values()), list(Document.objects.values())) == before


def test_no_documents_is_an_empty_list():
    assert verify("--json") == ("[]\n", 0)
    assert "0 documents, 0 copies checked" in verify()[0]
