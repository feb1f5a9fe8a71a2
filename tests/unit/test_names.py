"""Names from senders: no invisible format character (bidi overrides, zero-widths) is shown or served,
and the names inside a ZIP of documents come from validated fields only."""

from __future__ import annotations

import importlib
import io
import re
import unicodedata
import zipfile

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from pipeline import samples
from pipeline.content import safe_filename, without_format_characters
from tests.support.inline import GOOD_PDF, process_folder
from webapp.documents.models import Document
from webapp.inbox.models import Attachment

pytestmark = pytest.mark.django_db

#: Bidi embeddings and overrides, isolates, zero-widths and marks, word joiner, BOM, soft hyphen, a tag character.
FORMAT_CHARACTERS = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0x200B, 0x2010))]
FORMAT_CHARACTERS += ["\u2060", "\ufeff", "\u00ad", "\u061c", "\U000e0041"]
#: "Factura" + RIGHT-TO-LEFT OVERRIDE + "fdp.exe" reads "Facturaexe.pdf" in a browser or the admin.
SPOOFED = "Factura\u202efdp.exe"
#: Only digits, a RUT or `sin-rut`, the two PDF suffixes and the extension name a document's file.
ARCHIVE_NAME = re.compile(
    r"^(?:[0-9]+-[0-9]+-[0-9]{1,9}-[0-9K]|sin-rut/[0-9]+-[0-9]+-[0-9]+)(?:-[0-9]+)?(?:-proveedor|-impreso)?\.(?:xml|pdf)$"
)


@pytest.mark.parametrize("char", FORMAT_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
def test_safe_filename_drops_format_characters_and_keeps_visible_text(char):
    assert unicodedata.category(char) == "Cf"
    assert safe_filename(f"Fac{char}tura Ñuñoa 🧾 ١٢٣{char}.pdf", fallback="x") == "Factura Ñuñoa 🧾 ١٢٣.pdf"
    assert safe_filename(char * 3, fallback="fallback") == "fallback"
    assert without_format_characters(f"a{char}b") == "ab"


@pytest.mark.parametrize("raw", ["a\u2028b.pdf", "a\u2029b.pdf", "a\udc80b.pdf"], ids=["LS", "PS", "surrogate"])
def test_safe_filename_replaces_separators_and_lone_surrogates(raw):
    name = safe_filename(raw, fallback="x")
    assert name == "a_b.pdf"
    name.encode("utf-8")  # a header or a page can carry it


def zip_of(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def staff(client):
    user = User.objects.create_user("ana", password="x", is_staff=True)
    for codename in ("view_document", "view_attachment", "view_all_mailboxes"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return client


@pytest.fixture
def hostile_mail(tmp_path):
    """A mail whose names all try to spoof: an attachment, a ZIP and its member, and the DTE's issuer RUT."""
    xml = samples.dte_xml(issuer_rut="\u202e76086428-5/../..", folio=4521)
    mail = samples.supplier_email(
        attachments=[
            (SPOOFED, "application/pdf", GOOD_PDF),
            ("Documentos\u2067lmx.zip", "application/zip", zip_of(("DTE\u200b\u202e4521.xml", xml))),
        ]
    )
    process_folder(tmp_path / "inbox", (mail,), name="spoofed", why="hostile names are cleaned, never raise")
    return Attachment.objects.filter(message__source_id="01.eml")


def test_names_from_a_mail_are_stored_clean_and_kept_whole_for_the_record(hostile_mail):
    names = {attachment.original_filename: attachment.filename for attachment in hostile_mail}
    assert names == {
        SPOOFED: "Facturafdp.exe",
        "Documentos\u2067lmx.zip": "Documentoslmx.zip",
        "DTE\u200b\u202e4521.xml": "DTE4521.xml",
    }


def test_the_admin_shows_the_clean_names(staff, hostile_mail):
    body = staff.get(reverse("admin:inbox_attachment_changelist")).content.decode()
    assert "Facturafdp.exe" in body and "Documentoslmx.zip" in body and "DTE4521.xml" in body
    assert not set(FORMAT_CHARACTERS) & set(body)


def test_a_download_never_names_a_file_with_a_format_character(staff, hostile_mail):
    spoofed = hostile_mail.get(original_filename=SPOOFED)
    Attachment.objects.filter(pk=spoofed.pk).update(filename=SPOOFED)  # as stored before names were cleaned
    disposition = staff.get(reverse("inbox:attachment_download", args=[spoofed.pk]))["Content-Disposition"]
    assert disposition == 'attachment; filename="Facturafdp.exe"'


def test_a_document_whose_issuer_rut_is_not_a_rut_is_named_from_validated_fields(staff, hostile_mail):
    document = Document.objects.get(folio=4521)
    assert not document.issuer_rut_valid and "\u202e" in document.issuer_rut  # kept for the record
    for view, suffix in (("documents:xml_download", ".xml"), ("documents:printable_download", "-impreso.pdf")):
        response = staff.get(reverse(view, args=[document.pk]))
        assert response.status_code == 200
        assert response["Content-Disposition"] == f'attachment; filename="sin-rut_33-4521-{document.pk}{suffix}"'


def test_zip_member_names_come_from_validated_fields_only(staff, hostile_mail):
    spoofed = Document.objects.get(folio=4521)
    other = Document.objects.create(  # another issuer whose RUT is not one either: same type and folio
        mailbox_id=spoofed.mailbox_id,
        doc_type=33,
        type_name="Factura electrónica",
        folio=4521,
        issuer_rut="..\\x\u2066",
        issuer_rut_valid=False,
        xml_attachment=spoofed.xml_attachment,
    )
    valid = Document.objects.create(
        mailbox_id=spoofed.mailbox_id,
        doc_type=33,
        type_name="Factura electrónica",
        folio=4522,
        issuer_rut="76086428-5",
        xml_attachment=spoofed.xml_attachment,
    )
    response = staff.post(
        reverse("admin:documents_document_changelist"),
        {"action": "download_zip", "_selected_action": [spoofed.pk, other.pk, valid.pk]},
    )
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert all(ARCHIVE_NAME.match(name) for name in names), names
    assert sorted(name for name in names if name.endswith(".xml")) == [
        "33-4522-76086428-5.xml",
        f"sin-rut/33-4521-{spoofed.pk}.xml",
        f"sin-rut/33-4521-{other.pk}.xml",
    ]


def test_names_stored_before_are_cleaned_by_the_migration(hostile_mail):
    spoofed = hostile_mail.get(original_filename=SPOOFED)
    Attachment.objects.filter(pk=spoofed.pk).update(filename=SPOOFED)
    migration = importlib.import_module("webapp.inbox.migrations.0008_filenames_without_format_characters")
    migration.filenames_clean(apps, None)
    spoofed.refresh_from_db()
    assert spoofed.filename == "Facturafdp.exe" and spoofed.original_filename == SPOOFED
