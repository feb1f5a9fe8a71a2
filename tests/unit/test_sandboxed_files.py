"""Hostile files through the sandbox: each limit a file goes over is its permanent failure, with the reason.

The PDF bomb is drawn by the real PDFium, the 19.5 MB DTE parsed by the real lxml and printed by
the real reportlab, each in the sandbox's child.
"""

from __future__ import annotations

import dataclasses
import time

import psutil
import pytest

from pipeline.actors import render_attachment
from pipeline.dte import Kind, parse_file, parse_path
from pipeline.render.printable import PrintableError, printable_pdf
from pipeline.render.thumbnails import RenderError, pdf_thumbnail
from tests.support import hostile_files
from tests.unit.test_documents import mail
from webapp.documents.models import XmlClassification
from webapp.inbox.models import Attachment, Mailbox


def test_a_pdf_render_bomb_is_a_render_error_and_the_parent_stays_small(tmp_path):
    bomb = tmp_path / "secret-name" / "bomb.pdf"
    bomb.parent.mkdir()
    bomb.write_bytes(hostile_files.pdf_render_bomb())
    me = psutil.Process()
    before = me.memory_info().rss
    started = time.monotonic()
    with pytest.raises(RenderError) as caught:
        pdf_thumbnail(bomb)
    took = time.monotonic() - started
    growth_mb = (me.memory_info().rss - before) / 2**20
    print(f"\nPDF bomb ({bomb.stat().st_size} bytes): refused in {took:.1f} s; this process grew {growth_mb:.1f} MB")
    assert str(caught.value) == "drawing the PDF's first page needs more than 512 MB of memory; not rendered"
    assert "secret-name" not in str(caught.value) and str(tmp_path) not in str(caught.value)
    assert growth_mb < 20


def test_an_xml_over_the_memory_cap_is_invalid_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_MEMORY_MB", "128")
    huge = tmp_path / "huge.xml"
    huge.write_bytes(hostile_files.huge_dte())
    parsed = parse_path(huge)
    assert parsed.kind is Kind.INVALID
    assert parsed.problems == ["reading the XML needs more than 128 MB of memory; not parsed"]


def test_an_xml_parse_that_passes_the_deadline_is_invalid_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_WALL_SECONDS", "0.2")
    huge = tmp_path / "huge.xml"
    huge.write_bytes(hostile_files.huge_dte())
    parsed = parse_path(huge)
    assert parsed.kind is Kind.INVALID
    assert parsed.problems == ["reading the XML took longer than 0.2 s; not parsed"]


def test_a_printable_over_the_cpu_cap_is_a_printable_error(monkeypatch):
    (parsed,) = parse_file(hostile_files.huge_dte()).documents  # the parser keeps 1,000 of its lines
    document = dataclasses.replace(parsed, lines=parsed.lines * 83)  # all 83,000 reach the printable
    monkeypatch.setenv("SANDBOX_CPU_SECONDS", "1")
    with pytest.raises(
        PrintableError, match=r"^drawing the printable PDF needs more than 1 s of CPU time; not printed$"
    ):
        printable_pdf(document)


@pytest.mark.django_db
def test_an_xml_over_a_limit_fails_its_attachment_with_the_reason(monkeypatch):
    monkeypatch.setenv("SANDBOX_MEMORY_MB", "128")
    mailbox = Mailbox.objects.create(name="huge", settings={"path": "/tmp/none"})
    (xml,) = mail(mailbox, ("DTE_777.xml", "application/xml", hostile_files.huge_dte()))
    render_attachment(xml.pk)  # returns: nothing to retry
    xml.refresh_from_db()
    assert xml.preview_status == Attachment.PreviewStatus.FAILED
    assert xml.preview_error == "reading the XML needs more than 128 MB of memory; not parsed"
    assert XmlClassification.objects.get(attachment=xml).kind == "invalid"
