"""Language: the admin follows the browser (English or Spanish), our Spanish catalog is complete and
compiled in the repo, and dates and amounts print the Chilean way under es-CL."""

from __future__ import annotations

import ast
import datetime as dt
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.urls import reverse
from django.utils import formats, translation

from pipeline.dte.formatting import clp
from webapp.documents.models import Document
from webapp.inbox.models import Attachment, Blob, FetchRun, Mailbox, MailMessage

LOCALE = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES"
PO, MO = LOCALE / "django.po", LOCALE / "django.mo"

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-CL,es;q=0.9"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}


# -- the catalog --------------------------------------------------------------------------------


def read_po(path: Path) -> list[dict]:
    """The entries of a .po file: msgid, msgid_plural, msgstr (a dict index -> text), flags.

    A small parser for what makemessages writes; obsolete entries (#~) are left out.
    """
    entries, entry, field = [], None, None

    def finish():
        if entry is not None:
            entries.append(entry)

    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = line.strip()
        if not line:
            finish()
            entry, field = None, None
            continue
        if line.startswith("#~"):
            continue
        if entry is None:
            entry = {"msgid": "", "msgid_plural": None, "msgstr": {}, "flags": set()}
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif match := re.match(r'^(msgid_plural|msgid|msgstr)(?:\[(\d+)\])? (".*")$', line):
            key, index, text = match.groups()
            field = (key, int(index or 0))
            _append(entry, field, ast.literal_eval(text))
        elif line.startswith('"'):
            _append(entry, field, ast.literal_eval(line))
        else:
            raise AssertionError(f"{path}: cannot read {line!r}")
    return entries


def _append(entry: dict, field: tuple[str, int], text: str) -> None:
    key, index = field
    if key == "msgstr":
        entry["msgstr"][index] = entry["msgstr"].get(index, "") + text
    else:
        entry[key] = (entry[key] or "") + text


def _messages(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e["msgid"]]  # not the header


def _placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%\(\w+\)[sd]|\{\}", text))


def test_every_entry_is_translated_and_none_is_fuzzy():
    entries = read_po(PO)
    header = entries[0]
    assert header["msgid"] == "" and "fuzzy" not in header["flags"]
    assert "Language: es" in header["msgstr"][0]
    messages = _messages(entries)
    assert len(messages) > 100
    for entry in messages:
        assert "fuzzy" not in entry["flags"], entry["msgid"]
        forms = entry["msgstr"]
        assert forms and all(text.strip() for text in forms.values()), f"untranslated: {entry['msgid']!r}"
        if entry["msgid_plural"] is not None:
            assert sorted(forms) == [0, 1, 2], entry["msgid"]  # Spanish has three plural forms in Django
        for text in forms.values():  # a placeholder lost or misspelt breaks the page at run time
            assert _placeholders(text) == _placeholders(entry["msgid"]), (entry["msgid"], text)


def test_the_committed_mo_holds_exactly_the_po():
    """A fresh machine needs no gettext: the .mo is in the repo, and must say what the .po says."""
    assert MO.exists(), "run: manage.py compilemessages"
    with MO.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)._catalog
    expected = {}
    for entry in _messages(read_po(PO)):
        if entry["msgid_plural"] is None:
            expected[entry["msgid"]] = entry["msgstr"][0]
        else:
            expected.update({(entry["msgid"], index): text for index, text in entry["msgstr"].items()})
    compiled = {key: value for key, value in catalog.items() if key != ""}
    assert compiled == expected, "the .mo is stale: run manage.py compilemessages"


# -- pages --------------------------------------------------------------------------------------


@pytest.fixture
def rows(db):
    mailbox = Mailbox.objects.create(name="proveedores", settings={"path": "/tmp/none"})
    run = FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.COMPLETED)
    message = MailMessage.objects.create(
        mailbox=mailbox, fetch_run=run, source_id="m1", subject="Factura 501", status=MailMessage.Status.PROCESSED
    )
    blob = Blob.objects.create(sha256="a" * 64, size=1234, content_type="application/pdf", storage_name="a" * 64)
    Attachment.objects.create(
        message=message,
        position=0,
        original_filename="factura.pdf",
        filename="factura.pdf",
        content_type="application/pdf",
        blob=blob,
        status=Attachment.Status.STORED,
    )
    Document.objects.create(
        mailbox=mailbox,
        doc_type=33,
        type_name="Factura electrónica",
        folio=501,
        issue_date=dt.date(2026, 11, 22),
        issuer_rut="76086428-5",
        issuer_name="Distribuidora Ñuble S.A.",
        total=1_234_567,
    )


def test_admin_index_follows_the_browser(admin_client, rows):
    spanish = admin_client.get(reverse("admin:index"), **SPANISH).content.decode()
    for text in (
        "Correo de facturas",
        "Casillas de correo",
        "Ejecuciones de descarga",
        "Adjuntos",
        "Documentos tributarios (DTE)",
        "Panel de procesamiento",
    ):
        assert text in spanish, text
    assert "Fetch runs" not in spanish
    english = admin_client.get(reverse("admin:index"), **ENGLISH).content.decode()
    for text in ("Invoice mail", "Mailboxes", "Fetch runs", "Attachments", "DTE documents", "Pipeline dashboard"):
        assert text in english, text
    assert "Correo de facturas" not in english


def test_attachment_list_in_spanish_and_english(admin_client, rows):
    url = reverse("admin:inbox_attachment_changelist")
    spanish = admin_client.get(url, **SPANISH).content.decode()
    for text in (
        "Nombre de archivo",
        "Tamaño",
        "Estado de la vista previa",
        "Guardado",
        ">Descargar</a>",
        "Sin vista previa para este tipo",
    ):
        assert text in spanish, text
    english = admin_client.get(url, **ENGLISH).content.decode()
    for text in ("Filename", "Size", "Preview status", "Stored", ">Download</a>", "No preview for this type"):
        assert text in english, text
    assert "Guardado" not in english


def test_document_list_in_spanish_with_chilean_dates_and_amounts(admin_client, rows):
    url = reverse("admin:documents_document_changelist")
    spanish = admin_client.get(url, **SPANISH).content.decode()
    for text in (
        "Emisor",
        "Fecha de emisión",
        "Folio",
        "Pendiente",
        "RUT válido",
        "22-11-2026",
        "$1.234.567",
        "Descargar los documentos seleccionados en un ZIP",
    ):
        assert text in spanish, text
    english = admin_client.get(url, **ENGLISH).content.decode()
    for text in (
        "Issuer",
        "Issue date",
        "Pending",
        "Nov. 22, 2026",
        "$1.234.567",
        "Download selected documents as a ZIP",
    ):
        assert text in english, text
    assert "22-11-2026" not in english


def test_run_status_and_messages_are_spanish(admin_client, rows):
    page = admin_client.get(reverse("admin:inbox_fetchrun_changelist"), **SPANISH).content.decode()
    assert "Completada" in page and "Mensajes vistos" in page
    mailbox = Mailbox.objects.get()
    response = admin_client.post(reverse("admin:inbox_mailbox_fetch", args=[mailbox.pk]), follow=True, **SPANISH)
    assert "descarga en cola como ejecución #" in response.content.decode()


# -- formats ------------------------------------------------------------------------------------


def render(template: str, **context) -> str:
    return Template(template).render(Context(context))


def test_chilean_dates_and_numbers_under_es_cl():
    day = dt.date(2026, 11, 22)
    moment = dt.datetime(2026, 11, 22, 15, 30)  # noqa: DTZ001 - a naive wall time is what the format renders
    with translation.override("es-cl"):
        assert render("{{ day }}", day=day) == "22-11-2026"
        assert render("{{ day|date:'SHORT_DATE_FORMAT' }}", day=day) == "22-11-2026"
        assert formats.date_format(moment, "DATETIME_FORMAT") == "22-11-2026 15:30"
        assert formats.number_format(1234567.5, decimal_pos=2, force_grouping=True) == "1.234.567,50"
        assert clp(1_234_567) == "$1.234.567"
    with translation.override("en"):
        assert render("{{ day }}", day=day) == "Nov. 22, 2026"
        assert clp(1_234_567) == "$1.234.567"  # CLP: no decimals, "." for thousands in every language
    assert clp(-1_500) == "-$1.500" and clp(0) == "$0" and clp(None) == "-"
