"""The Graph bearer token goes to the Graph endpoint only: a next link or a redirect to another host is
not followed. The fake Graph and a second HTTPS server (another port of 127.0.0.1, its own CA, trusted
too) that records every request it gets, with real MSAL and the real actors."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme

from pipeline.sources.graph_client import ForeignHost, check_graph_url
from tests.support.fake_graph import Attachment, FakeGraph
from tests.support.inline import GOOD_PDF, process_mailbox
from webapp.inbox.models import Attachment as Row
from webapp.inbox.models import FetchRun, Mailbox, MailMessage

pytestmark = pytest.mark.django_db


class Elsewhere:
    """An HTTPS server on another port that answers anything and keeps what it was sent."""

    def __init__(self, directory) -> None:
        ca = trustme.CA()
        self.ca_file = directory / "elsewhere-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.requests: list[tuple[str, str]] = []  # (path, Authorization header)
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                seen.append((self.path, self.headers.get("Authorization", "")))
                body = b"%PDF-1.4 not the supplier's" if "$value" in self.path or self.path.endswith(".pdf") else b""
                body = body or json.dumps({"value": []}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.base = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def graph_and_elsewhere(tmp_path, monkeypatch, redis_client):
    elsewhere = Elsewhere(tmp_path)
    with FakeGraph(tmp_path, page_size=2) as fake:
        bundle = tmp_path / "both-cas.pem"
        bundle.write_text(fake.ca_file.read_text() + elsewhere.ca_file.read_text())
        for name, value in {
            **fake.env(),
            "REQUESTS_CA_BUNDLE": str(bundle),
            "GRAPH_READ_TIMEOUT": "5",
            "GRAPH_CONNECT_TIMEOUT": "2",
            "GRAPH_BACKOFF_SECONDS": "0.05",
            "GRAPH_MAX_ATTEMPTS": "2",
        }.items():
            monkeypatch.setenv(name, value)
        yield fake, elsewhere
    elsewhere.close()


def graph_mailbox(graph) -> Mailbox:
    return Mailbox.objects.create(
        name="facturas-365", kind="graph", settings={"user": graph.user, "processed_folder": "Processed"}
    )


def test_a_next_link_to_another_host_fails_the_run_and_the_token_goes_nowhere_else(graph_and_elsewhere):
    graph, elsewhere = graph_and_elsewhere
    sent = [graph.add_message(f"Factura {n}", received=f"2025-03-0{n + 1}T10:00:00Z") for n in range(3)]
    graph.next_link_base = elsewhere.base  # page 2 of 2 "lives" on the other server
    processed = process_mailbox(graph_mailbox(graph))
    run = processed.run
    assert elsewhere.requests == [], "nothing was sent to the other host, least of all the token"
    assert run.status == FetchRun.Status.FAILED, run.error
    assert "link to another host" in run.error and "not sent" in run.error
    assert "127.0.0.1" not in run.error, "the reason shown in the admin names no host"
    assert MailMessage.objects.count() == 0, "a half listing stores nothing"
    assert all(graph.messages[m.id].folder == "inbox-id" for m in sent), "nothing was moved"
    assert len(graph.requests_to("/messages?")) == 1, "page 1 came from Graph"


def test_a_download_redirected_to_another_host_is_not_followed(graph_and_elsewhere):
    graph, elsewhere = graph_and_elsewhere
    message = graph.add_message("Factura", [Attachment("factura.pdf", GOOD_PDF, "application/pdf")])
    graph.fail("/$value", ("redirect", f"{elsewhere.base}/evil.pdf"), ("redirect", f"{elsewhere.base}/evil.pdf"))
    processed = process_mailbox(graph_mailbox(graph))
    assert elsewhere.requests == [], "the redirect was not followed"
    row = MailMessage.objects.get(source_id=message.id)
    assert row.status == MailMessage.Status.PENDING, "Graph misbehaving is an outage: the mail is read again later"
    assert "link to another host" in row.error and "127.0.0.1" not in row.error
    assert not Row.objects.filter(message=row, status=Row.Status.STORED).exists(), "nothing stored from elsewhere"
    assert [name for name, _, _ in processed.raised] == ["save_message"]
    assert graph.messages[message.id].folder == "inbox-id", "not settled at the source"


GRAPH = "https://graph.microsoft.com/v1.0/users/invoices@contoso.com"


@pytest.mark.parametrize(
    ("url", "followed"),
    [
        ("https://graph.microsoft.com/v1.0/users/x/messages?$skiptoken=2", True),
        ("HTTPS://Graph.Microsoft.com:443/v1.0/users/x/messages", True),
        ("http://graph.microsoft.com/v1.0/users/x/messages", False),
        ("https://graph.microsoft.com:8443/v1.0/users/x/messages", False),
        ("https://graph.microsoft.com.evil.test/v1.0/users/x/messages", False),
        ("https://evil.test/?https://graph.microsoft.com/", False),
        ("https://graph.microsoft.com:notaport/v1.0/", False),
    ],
)
def test_only_the_graph_origin_is_followed(url, followed):
    if followed:
        assert check_graph_url(url, graph=GRAPH) == url
    else:
        with pytest.raises(ForeignHost):
            check_graph_url(url, graph=GRAPH)
