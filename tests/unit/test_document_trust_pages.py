"""What the admin says of a document's genuineness: the list's verification mark and its filters, the
copies on the document's page with the warning when they disagree, and the dashboard's counts, which
keep it from saying all is well; a clerk of one mailbox sees none of another's in any of them.

Documents come through the real pipeline; their checks and copies are then set as the checking
service records them (TED and signature states, each copy's content as fingerprint.content_summary
reads it)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pipeline import samples
from pipeline.dte import parse_file
from pipeline.dte.fingerprint import content_summary
from tests.support.inline import process_folder, process_mailbox
from tests.support.mailbox_pair import clerk_of
from tests.unit.test_health_pipeline_access import make_healthy
from webapp.documents.models import CheckState, Document, DocumentSource
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-CL,es;q=0.9"}
LIST = "admin:documents_document_changelist"
GENUINE_LINES = (("Café de grano 1 kg", 10, 12_990),)
#: The same folio, edited after signing: ten times the coffee.
EDITED_LINES = (("Café de grano 1 kg", 100, 12_990),)
TED_ERROR = "FRMT does not verify with the CAF's key"
SECRET_ISSUER = "Comercial Sur Secreta Ltda"


def _mail(name: str, xml: bytes) -> bytes:
    return samples.supplier_email(subject=name, attachments=[(name, "application/xml", xml)])


def _content(xml: bytes) -> dict:
    (parsed,) = parse_file(xml).documents
    return content_summary(parsed)


class Month:
    """Norte: invoice 1234 in a genuine and an edited copy (a conflict), 1235 with a forged timbre, 1236
    without one, 1237 genuine. Sur: its own conflicting invoice 555, of an issuer only it knows."""

    def __init__(self, tmp_path: Path) -> None:
        genuine = samples.dte_xml(folio=1234, lines=GENUINE_LINES)
        edited = samples.dte_xml(folio=1234, lines=EDITED_LINES)
        mails = (
            _mail("DTE_1234.xml", genuine),
            _mail("DTE_1234_reenvio.xml", edited),
            *(_mail(f"DTE_{folio}.xml", samples.dte_xml(folio=folio)) for folio in (1235, 1236, 1237)),
        )
        process_folder(tmp_path / "norte", mails, name="norte", why="every copy is recorded")
        self.norte = Mailbox.objects.get(name="norte")
        self.conflict = Document.objects.get(mailbox=self.norte, folio=1234)
        self.forged = Document.objects.get(mailbox=self.norte, folio=1235)
        self.unstamped = Document.objects.get(mailbox=self.norte, folio=1236)
        self.genuine = Document.objects.get(mailbox=self.norte, folio=1237)
        self._conflicting(self.conflict, genuine, edited)
        Document.objects.filter(pk=self.forged.pk).update(ted=CheckState.INVALID, signature=CheckState.VALID)
        self.forged.sources.update(ted=CheckState.INVALID, ted_error=TED_ERROR, chosen=True)
        Document.objects.filter(pk=self.unstamped.pk).update(ted=CheckState.MISSING, signature=CheckState.MISSING)
        Document.objects.filter(pk=self.genuine.pk).update(ted=CheckState.VALID, signature=CheckState.VALID)

        sur_genuine = samples.dte_xml(folio=555, issuer_rut=samples.valid_rut(77_777_777), issuer_name=SECRET_ISSUER)
        sur_edited = samples.dte_xml(
            folio=555, issuer_rut=samples.valid_rut(77_777_777), issuer_name=SECRET_ISSUER, lines=EDITED_LINES
        )
        folder = tmp_path / "sur"
        folder.mkdir()
        (folder / "01.eml").write_bytes(_mail("sur-secreto-555.xml", sur_genuine))
        (folder / "02.eml").write_bytes(_mail("sur-secreto-555-bis.xml", sur_edited))
        self.sur = Mailbox.objects.create(name="sur-secreto", settings={"path": str(folder)})
        assert process_mailbox(self.sur).raised == []
        self.secret = Document.objects.get(mailbox=self.sur, folio=555)
        self._conflicting(self.secret, sur_genuine, sur_edited)
        Document.objects.filter(pk=self.secret.pk).update(ted=CheckState.INVALID)
        self.clerk = clerk_of(self.norte)

    @staticmethod
    def _conflicting(document: Document, genuine: bytes, edited: bytes) -> None:
        first, second = document.sources.order_by("attachment_id")
        DocumentSource.objects.filter(pk=first.pk).update(
            ted=CheckState.VALID, signature=CheckState.INVALID, content=_content(genuine), chosen=True
        )
        DocumentSource.objects.filter(pk=second.pk).update(
            ted=CheckState.INVALID, ted_error=TED_ERROR, signature=CheckState.INVALID, content=_content(edited)
        )
        Document.objects.filter(pk=document.pk).update(
            conflict=True, ted=CheckState.VALID, signature=CheckState.INVALID
        )


@pytest.fixture
def month(tmp_path, redis_client) -> Month:
    return Month(tmp_path)


@pytest.fixture
def clerk(client, month):
    client.force_login(month.clerk)
    return client


def _folios(response) -> list[int]:
    return sorted(document.folio for document in response.context["cl"].result_list)


def _row(page: str, folio: int) -> str:
    for row in re.findall(r"<tr>.*?</tr>", page, flags=re.S):
        if f">{folio}</a>" in row:
            return row
    raise AssertionError(f"no row for folio {folio}")


def _page(client, document: Document) -> str:
    response = client.get(reverse("admin:documents_document_change", args=[document.pk]), **SPANISH)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_list_marks_each_documents_timbre_and_its_conflict(admin_client, month):
    page = html.unescape(admin_client.get(reverse(LIST), **SPANISH).content.decode())
    assert "Verificación" in page
    conflict = _row(page, 1234)
    assert 'title="Copias en conflicto. Timbre válido. Firma inválida"' in conflict and "✓" in conflict
    assert "⚠" in conflict
    forged = _row(page, 1235)
    assert 'title="Timbre inválido. Firma válida"' in forged and "✗" in forged and "⚠" not in forged
    assert 'title="Sin timbre. Sin firma"' in _row(page, 1236)
    assert 'title="Timbre válido. Firma válida"' in _row(page, 1237)


def test_the_filters_find_a_timbre_a_signature_and_a_conflict(admin_client, month):
    def folios(**params):
        return _folios(admin_client.get(reverse(LIST), params))

    assert folios(ted="invalid") == [555, 1235]
    assert folios(ted="missing") == [1236]
    assert folios(ted="failing") == [555, 1235, 1236]
    assert folios(ted="valid") == [1234, 1237]
    assert folios(signature="invalid") == [555, 1234]
    assert folios(conflict="yes") == [555, 1234]
    assert 1234 not in folios(conflict="no") and 1237 in folios(conflict="no")
    page = html.unescape(admin_client.get(reverse(LIST), **SPANISH).content.decode())
    for choice in (
        "Por timbre electrónico (TED)",
        "Por firma",
        "Por copias en conflicto",
        "No verifica (inválido o falta)",
    ):
        assert choice in page, choice
    for choice in ("Válido", "Inválido", "Falta", "Copias coinciden"):
        assert f">{choice}</a>" in page, choice


def test_a_conflicting_document_warns_at_the_top_and_shows_what_each_copy_says(admin_client, month):
    page = _page(admin_client, month.conflict)
    warning = page.index("Este documento llegó en copias que no coinciden: revise cuál es la auténtica.")
    assert warning < page.index("<fieldset")
    table = re.search(r'<table class="copies-conflict">.*?</table>', page, flags=re.S).group(0)
    genuine, edited = (samples.Dte(lines=lines).totals() for lines in (GENUINE_LINES, EDITED_LINES))
    for name in ("MntNeto", "IVA", "MntTotal"):
        assert samples.clp(genuine[name]) in table and samples.clp(edited[name]) in table
    headers = re.sub(r"<[^>]+>", "", re.search(r"<thead>.*?</thead>", table).group(0))
    assert headers == "campoCopia 1 (DTE_1234.xml) (elegida)Copia 2 (DTE_1234_reenvio.xml)"
    rows = re.findall(r'<th scope="row">(.*?)</th>', table)
    assert rows == ["neto", "IVA", "total"]  # the fields they agree on are not in the table

    copies = page[page.index("document-copies") :]
    assert "Copias (los XML en que llegó este documento)" in page
    assert "Timbre válido" in copies and "Timbre inválido" in copies and TED_ERROR in copies
    assert "Firma inválida" in copies and "Llegó" in copies
    differing = re.findall(r'<div class="row differs"><dt>(.*?)</dt><dd>(.*?)</dd>', copies)
    assert ("total", samples.clp(edited["MntTotal"])) in differing
    assert not any(label == "fecha de emisión" for label, _value in differing)
    assert "Timbre electrónico (TED)" in page and "Autenticidad" in page and "Sí: sus copias no coinciden" in page


def test_a_document_whose_copies_agree_shows_no_warning(admin_client, month):
    page = _page(admin_client, month.forged)
    assert "copias que no coinciden" not in page and 'id="copies-conflict"' not in page
    assert "Timbre inválido" in page and TED_ERROR in page


def test_a_clerk_sees_nothing_of_the_other_mailboxs_doubts(clerk, month):
    listing = clerk.get(reverse(LIST), {"conflict": "yes"}, **SPANISH)
    assert _folios(listing) == [1234]
    assert _folios(clerk.get(reverse(LIST), {"ted": "failing"})) == [1235, 1236]
    assert SECRET_ISSUER.lower() not in listing.content.decode().lower()
    assert clerk.get(reverse("admin:documents_document_change", args=[month.secret.pk])).status_code != 200
    page = clerk.get(reverse("pipeline_dashboard"), **SPANISH).context
    assert (page["doubts"]["conflict_count"], page["doubts"]["ted_failing_count"]) == (1, 2)
    assert "sur-secreto" not in _page(clerk, month.conflict)


def test_the_dashboard_counts_the_doubts_and_links_to_them(admin_client, month, redis_client):
    make_healthy(redis_client)
    response = admin_client.get(reverse("pipeline_dashboard"), **SPANISH)
    page = html.unescape(response.content.decode())
    status = page[page.index('id="pipeline-status"') : page.index("</p>", page.index('id="pipeline-status"'))]
    assert "Requiere atención" in status and "Todo en orden" not in status
    assert "2 documentos llegaron en copias que no coinciden" in status
    assert "3 documentos cuyo timbre electrónico no verifica" in status
    for link in re.findall(r'<a href="([^"]+)" class="documents-[^"]+">', status):
        assert _folios(admin_client.get(link)) in ([555, 1234], [555, 1235, 1236])


def test_the_dashboard_says_all_is_well_once_no_document_is_in_doubt(admin_client, month, redis_client):
    make_healthy(redis_client)
    Document.objects.filter(conflict=True).update(conflict=False)
    Document.objects.filter(ted__in=[CheckState.INVALID, CheckState.MISSING]).update(ted=CheckState.VALID)
    assert "Todo en orden" in admin_client.get(reverse("pipeline_dashboard"), **SPANISH).content.decode()
    Document.objects.filter(pk=month.conflict.pk).update(conflict=True)
    page = admin_client.get(reverse("pipeline_dashboard"), **SPANISH).content.decode()
    assert "Todo en orden" not in page and "1 documento llegó en copias que no coinciden" in page


def test_the_verification_column_and_filters_cost_no_query_per_row(admin_client, month):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = admin_client.get(reverse(LIST))
        assert response.status_code == 200
        return len(captured)

    queries()  # caches (content types, translations) are filled before counting
    few = queries()
    first = month.genuine.sources.get()
    for folio in range(2000, 2030):
        document = Document.objects.create(
            mailbox=month.norte,
            doc_type=33,
            folio=folio,
            issuer_rut=month.genuine.issuer_rut,
            ted=[CheckState.VALID, CheckState.INVALID, CheckState.MISSING][folio % 3],
            signature=CheckState.INVALID,
            conflict=folio % 2 == 0,
        )
        DocumentSource.objects.create(document=document, attachment=first.attachment, content={"total": folio})
    assert queries() <= few


def test_nothing_checked_yet_offers_no_check_filter(admin_client, month):
    Document.objects.update(ted=CheckState.UNCHECKED, signature=CheckState.UNCHECKED, conflict=False)
    page = html.unescape(admin_client.get(reverse(LIST), **SPANISH).content.decode())
    assert "Por timbre electrónico (TED)" not in page and "Por copias en conflicto" not in page
    assert 'title="Timbre sin verificar. Firma sin verificar"' in _row(page, 1237)
