"""The graph source against a fake Graph over real HTTPS, with real MSAL: listing, attachments, settling, faults."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline import samples
from pipeline.sources import open_source
from pipeline.sources.base import MessageGone, SourceError
from pipeline.sources.graph import MESSAGE_FIELDS
from tests.support.fake_graph import Attachment, FakeGraph

PDF = samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=7, total=700)
XML = samples.dte_xml(folio=7)


@pytest.fixture
def graph(tmp_path, monkeypatch, redis_client):
    with FakeGraph(tmp_path, page_size=4) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        for name, value in {
            "GRAPH_READ_TIMEOUT": "1",
            "GRAPH_CONNECT_TIMEOUT": "2",
            "GRAPH_BACKOFF_SECONDS": "0.05",
            "GRAPH_MAX_ATTEMPTS": "4",
        }.items():
            monkeypatch.setenv(name, value)
        yield fake


def source(graph, **settings):
    return open_source("graph", {"user": graph.user, **settings})


def read_all(src, source_id):
    with src.open_message(source_id) as reader:
        out = []
        for incoming in reader.attachments():
            data = b"".join(incoming.open_chunks()) if incoming.open_chunks else None
            out.append((incoming.filename, incoming.skipped_reason, data))
        return out


def test_listing_follows_every_page_selects_only_what_we_store_and_sends_immutable_ids(graph):
    sent = [graph.add_message(f"Factura {n}", received=f"2025-03-{n + 1:02d}T10:00:00Z") for n in range(10)]
    listed = list(source(graph).list_messages())
    assert [s.source_id for s in listed] == [m.id for m in sent]
    assert listed[0].subject == "Factura 0" and listed[0].sender == "Proveedor <facturas@proveedor.cl>"
    pages = graph.requests_to("/messages?")
    assert len(pages) == 3, "10 messages in pages of 4"
    assert all(f"$select={MESSAGE_FIELDS}" in p[3].replace("%2C", ",").replace("%24", "$") for p in pages)
    assert graph.missing_prefer == 0 and graph.token_requests == 1, "one MSAL token, from its cache afterwards"


def test_backfill_filters_on_received_date(graph):
    graph.add_message("old", received="2024-01-01T00:00:00Z")
    new = graph.add_message("new", received="2025-06-01T00:00:00Z")
    import datetime as dt

    assert [s.source_id for s in source(graph).list_messages(since=dt.date(2025, 1, 1))] == [new.id]


def test_attachments_files_items_references_and_inline_images(graph):
    forwarded = samples.supplier_email(folio=8, attachments=[("inner.pdf", "application/pdf", PDF)])
    message = graph.add_message(
        "mixed",
        [
            Attachment("DTE_7.xml", XML, "application/xml"),
            Attachment("logo.png", b"\x89PNG....", "image/png", inline=True),
            Attachment("contrato.docx", None, kind="referenceAttachment"),
            Attachment("Reenviado", forwarded, kind="itemAttachment"),
        ],
    )
    got = read_all(source(graph), message.id)
    assert got[0] == ("DTE_7.xml", "", XML)
    assert got[1][0] == "logo.png" and "inline" in got[1][1] and got[1][2] is None
    assert got[2][0] == "contrato.docx" and "cloud file" in got[2][1]
    assert got[3] == ("Reenviado.eml", "", forwarded)
    assert [g[0] for g in got[4:] if g[2] == PDF] == ["inner.pdf"]
    assert graph.selected_content_bytes == 0
    assert all("$select" in e[3] or "%24select" in e[3] for e in graph.requests_to("/attachments?"))
    assert read_all(source(graph, include_inline=True), message.id)[1][2] == b"\x89PNG...."


def test_mark_processed_moves_into_a_created_folder_and_the_id_stays(graph):
    message = graph.add_message("one", [Attachment("a.pdf", PDF, "application/pdf")])
    src = source(graph, processed_folder="Procesados")
    src.mark_processed(message.id)
    src.mark_processed(message.id)  # again: already there, no second move
    assert graph.folder_named("Procesados") == message.folder
    assert [m[0] for m in graph.moves] == [message.id]
    assert list(src.list_messages()) == []
    with pytest.raises(MessageGone):
        read_all(src, "AAMk-no-such-message")


def test_mark_read_mode_patches_and_regular_listing_skips_read_mail(graph):
    message = graph.add_message("one")
    src = source(graph, mark_read=True)
    src.mark_processed(message.id)
    assert message.is_read and message.folder == "inbox-id"
    assert list(src.list_messages()) == []


def test_retry_after_is_waited_for(graph):
    graph.add_message("one")
    graph.fail("/messages?", (429, 1))
    started = time.monotonic()
    assert len(list(source(graph).list_messages())) == 1
    throttled, retried = graph.requests_to("/messages?")
    assert retried[0] - throttled[1] >= 1.0 and time.monotonic() - started >= 1.0


def test_transient_faults_are_retried_and_the_content_arrives_whole(graph):
    message = graph.add_message("one", [Attachment("a.pdf", PDF, "application/pdf")])
    graph.fail("/$value", (503, 0), (500,), ("reset",), ("stall", 3))
    assert len(list(source(graph).list_messages())) == 1
    graph.expire_tokens()
    assert read_all(source(graph), message.id) == [("a.pdf", "", PDF)]
    assert graph.token_requests == 2, "a 401 refreshed the token once"


def test_a_fault_that_does_not_clear_ends_as_source_error_after_bounded_attempts(graph):
    graph.add_message("one")
    graph.fail("/messages?", *[(500,)] * 10)
    with pytest.raises(SourceError, match="500"):
        list(source(graph).list_messages())
    assert len(graph.requests_to("/messages?")) == 4


def test_never_more_than_four_requests_in_flight_per_mailbox(graph):
    graph.latency = 0.1
    graph.add_message("one")
    src = source(graph)
    threads = [threading.Thread(target=lambda: list(src.list_messages())) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 < graph.max_in_flight <= 4, "requests overlap, never more than four at once (a loaded CI may reach 3)"


def test_certificate_credentials_sign_a_client_assertion(graph, tmp_path, monkeypatch):
    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    rsa = trustme.KeyType.RSA  # Entra app certificates are RSA
    cert = trustme.CA(key_type=rsa).issue_cert("invoice-mail-app", key_type=rsa)
    pem = tmp_path / "app.pem"
    pem.write_bytes(cert.private_key_and_cert_chain_pem.bytes())
    thumbprint = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes()).fingerprint(hashes.SHA1()).hex()
    monkeypatch.delenv("GRAPH_CLIENT_SECRET")
    monkeypatch.setenv("GRAPH_CLIENT_CERTIFICATE_PATH", str(pem))
    monkeypatch.setenv("GRAPH_CLIENT_CERTIFICATE_THUMBPRINT", thumbprint)
    graph.add_message("one")
    assert len(list(source(graph).list_messages())) == 1
    assert "client_assertion=" in graph.token_bodies[-1] and "client_secret" not in graph.token_bodies[-1]
