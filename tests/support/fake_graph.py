"""A fake Microsoft Graph and Entra token service: a real HTTPS server on 127.0.0.1.

TLS comes from a throw-away CA made with trustme (point REQUESTS_CA_BUNDLE at `ca_file`).
It serves what MSAL needs for a custom authority with instance_discovery=False (OIDC
metadata and the token endpoint) and the Graph calls of the graph source: folders,
paged messages, attachments and their `$value`, move and PATCH. It counts requests in
flight, records every exchange, and plays faults: statuses with Retry-After, reset
connections, bodies that stall, expired tokens, redirects, next links to another server.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import trustme

TENANT = "fake-tenant"
PREFER = 'IdType="ImmutableId"'


def big_content(size: int, seed: bytes = b"big") -> tuple[callable, str]:
    """A deterministic content of `size` bytes as a chunk generator factory, and its sha256."""

    def chunks(chunk_size: int = 1024 * 1024):
        block = hashlib.sha256(seed).digest() * (chunk_size // 32)
        sent = 0
        for number in itertools.count():
            if sent >= size:
                return
            piece = (block[:-8] + struct.pack(">Q", number))[: min(chunk_size, size - sent)]
            sent += len(piece)
            yield piece

    digest = hashlib.sha256()
    for piece in chunks():
        digest.update(piece)
    return chunks, digest.hexdigest()


@dataclass
class Attachment:
    name: str
    content: bytes | None = b""
    content_type: str = "application/octet-stream"
    kind: str = "fileAttachment"  # fileAttachment, itemAttachment (content is the MIME), referenceAttachment
    inline: bool = False
    chunks: object = None  # a chunk generator factory, for content too big to hold
    size: int = 0
    id: str = ""


@dataclass
class Message:
    id: str
    folder: str
    subject: str
    received: str
    sender: str = "facturas@proveedor.cl"
    internet_message_id: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    is_read: bool = False


class FakeGraph:
    def __init__(
        self, directory: Path, *, user: str = "invoices@contoso.test", page_size: int = 4, latency: float = 0.0
    ):
        self.user, self.page_size, self.latency = user, page_size, latency
        ca = trustme.CA()
        self.ca_file = directory / "fake-graph-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.lock = threading.Lock()
        self.folders = {"inbox-id": {"displayName": "Inbox", "parent": None}}
        self.messages: dict[str, Message] = {}
        self.faults: list[list] = []  # [path substring, method, [actions...]]
        self.valid_tokens: set[str] = set()
        self.token_requests = self.in_flight = self.max_in_flight = 0
        self.token_bodies: list[str] = []
        self.log: list[tuple] = []  # (start, end, method, path, status)
        self.missing_prefer = 0
        self.moves: list[tuple[str, float]] = []
        self.on_move = None  # callable(message_id) run before a move is done
        self.selected_content_bytes = 0
        self.next_link_base: str | None = None  # where @odata.nextLink points; this server when None
        self.client_secret = "fake-secret"  # a token request with another secret is refused, as Entra does
        fake = self

        class Handler(_Handler):
            graph = fake

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.base = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGraph:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def env(self) -> dict[str, str]:
        return {
            "GRAPH_TENANT_ID": TENANT,
            "GRAPH_CLIENT_ID": "fake-client",
            "GRAPH_CLIENT_SECRET": "fake-secret",
            "GRAPH_ENDPOINT": self.base,
            "GRAPH_AUTHORITY_HOST": self.base,
            "REQUESTS_CA_BUNDLE": str(self.ca_file),
        }

    # content ---------------------------------------------------------------

    def add_message(
        self,
        subject: str,
        attachments: list[Attachment] = (),
        *,
        folder: str = "inbox-id",
        received: str = "2025-03-01T10:00:00Z",
    ) -> Message:
        with self.lock:
            number = len(self.messages) + 1
            message = Message(
                id=f"AAMk-immutable-{number:04d}",
                folder=folder,
                subject=subject,
                received=received,
                internet_message_id=f"<msg-{number}@proveedor.cl>",
                attachments=list(attachments),
            )
            for index, attachment in enumerate(message.attachments):
                attachment.id = f"att-{number}-{index}"
                attachment.size = attachment.size or len(attachment.content or b"")
            self.messages[message.id] = message
        return message

    def fail(self, path_part: str, *actions, method: str = "GET") -> None:
        """The next requests whose path contains `path_part` get `actions` in order: (429, seconds), (503, s),
        (500,), (403,), ("reset",), ("stall", seconds), ("redirect", url)."""
        with self.lock:
            self.faults.append([path_part, method, list(actions)])

    def expire_tokens(self) -> None:
        with self.lock:
            self.valid_tokens.clear()

    def folder_named(self, name: str) -> str | None:
        return next((fid for fid, f in self.folders.items() if f["displayName"] == name), None)

    def requests_to(self, part: str) -> list[tuple]:
        """The requests whose path holds `part`, once every handler has logged its own: a handler
        logs after its response is sent, so a client can be done a moment before the log is."""
        deadline = time.monotonic() + 5  # a handler still playing a stall is not waited for longer
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        with self.lock:
            return [entry for entry in self.log if part in entry[3]]

    def _fault_for(self, method: str, path: str):
        with self.lock:
            for fault in self.faults:
                if fault[1] == method and fault[0] in path and fault[2]:
                    return fault[2].pop(0)
        return None


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # reset connections and clients that time out are part of the play


class _Handler(BaseHTTPRequestHandler):
    graph: FakeGraph
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        graph, url = self.graph, urlsplit(self.path)
        path, query = unquote(url.path), {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if not path.startswith("/v1.0/"):
            return self._auth(method, path, body)
        started = time.monotonic()
        with graph.lock:
            graph.in_flight += 1
            graph.max_in_flight = max(graph.max_in_flight, graph.in_flight)
            graph.missing_prefer += self.headers.get("Prefer") != PREFER
        status = 0
        try:
            if graph.latency:
                time.sleep(graph.latency)  # the played network latency
            status = self._graph(method, path, query, body)
        finally:
            with graph.lock:
                graph.in_flight -= 1
                graph.log.append((started, time.monotonic(), method, self.path, status))

    def _auth(self, method: str, path: str, body: bytes) -> None:
        graph = self.graph
        if path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            root = f"{graph.base}/{TENANT}"
            return self._json(
                200,
                {
                    "issuer": f"{root}/v2.0",
                    "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{root}/oauth2/v2.0/token",
                },
            )
        if path == f"/{TENANT}/oauth2/v2.0/token" and method == "POST":
            if parse_qs(body.decode()).get("client_secret", [graph.client_secret])[0] != graph.client_secret:
                return self._json(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided.",
                        "error_codes": [7000215],
                    },
                )
            with graph.lock:
                graph.token_requests += 1
                graph.token_bodies.append(body.decode())
                token = f"token-{graph.token_requests}"
                graph.valid_tokens.add(token)
            return self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
        self._json(404, {"error": "not_found"})

    def _graph(self, method: str, path: str, query: dict, body: bytes) -> int:
        graph = self.graph
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in graph.valid_tokens:
            return self._json(401, {"error": {"code": "InvalidAuthenticationToken", "message": "token expired"}})
        fault = graph._fault_for(method, self.path)
        if fault is not None and fault[0] in (429, 503, 500):
            headers = {"Retry-After": str(fault[1])} if len(fault) > 1 else {}
            return self._json(fault[0], {"error": {"code": "Throttled", "message": f"fault {fault[0]}"}}, headers)
        if fault is not None and fault[0] == 403:  # the app lacks the permission (no admin consent)
            return self._json(403, {"error": {"code": "ErrorAccessDenied", "message": "Access is denied."}})
        if fault is not None and fault[0] == "redirect":
            return self._json(302, {}, {"Location": fault[1]})
        if fault is not None and fault[0] == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return -1
        prefix = f"/v1.0/users/{graph.user}"
        if not path.startswith(prefix):
            return self._json(404, {"error": {"code": "ErrorInvalidUser", "message": path}})
        parts = path[len(prefix) :].strip("/").split("/")
        if "contentBytes" in query.get("$select", ""):
            graph.selected_content_bytes += 1
        if parts[0] == "mailFolders":
            return self._folders(method, parts[1:], query, body)
        if parts[0] == "messages" and len(parts) >= 2 and parts[1] in graph.messages:
            return self._message(method, graph.messages[parts[1]], parts[2:], query, body, fault)
        return self._json(404, {"error": {"code": "ErrorItemNotFound", "message": path}})

    def _folders(self, method: str, parts: list[str], query: dict, body: bytes) -> int:
        graph = self.graph
        if len(parts) == 1 and parts[0] == "inbox":
            return self._json(
                200, {"id": "inbox-id", "displayName": "Inbox", "totalItemCount": self._count("inbox-id")}
            )
        parent = parts[0] if parts and parts[-1] == "childFolders" else None
        if not parts or parts[-1] == "childFolders":
            if method == "POST":
                name = json.loads(body)["displayName"]
                with graph.lock:  # as Graph: one folder of a name under a parent
                    if any(f["parent"] == parent and f["displayName"] == name for f in graph.folders.values()):
                        return self._json(409, {"error": {"code": "ErrorFolderExists", "message": name}})
                    fid = f"folder-{len(graph.folders)}"
                    graph.folders[fid] = {"displayName": name, "parent": parent}
                return self._json(201, {"id": fid, "displayName": name})
            wanted = query.get("$filter", "").partition("'")[2].rpartition("'")[0].replace("''", "'")
            found = [
                {"id": fid, "displayName": f["displayName"], "totalItemCount": self._count(fid)}
                for fid, f in graph.folders.items()
                if f["parent"] == parent and (not wanted or f["displayName"] == wanted)
            ]
            return self._json(200, {"value": found})
        if len(parts) == 2 and parts[1] == "messages":
            return self._list(parts[0], query)
        return self._json(404, {"error": {"code": "ErrorInvalidIdMalformed", "message": "/".join(parts)}})

    def _count(self, folder: str) -> int:
        with self.graph.lock:
            return sum(1 for m in self.graph.messages.values() if m.folder == folder)

    def _list(self, folder: str, query: dict) -> int:
        graph = self.graph
        since = query.get("$filter", "").split("receivedDateTime ge ")[-1].split(" ")[0] or "0"
        unread = "isRead eq false" in query.get("$filter", "")
        with graph.lock:
            items = sorted(
                (
                    m
                    for m in graph.messages.values()
                    if m.folder == folder and m.received >= since and not (unread and m.is_read)
                ),
                key=lambda m: (m.received, m.id),
            )
        skip = int(query.get("$skiptoken", 0))
        top = min(int(query.get("$top", 10)), graph.page_size)
        fields = set(query.get("$select", "").split(","))
        page = [_message_json(m, fields) for m in items[skip : skip + top]]
        answer = {"value": page}
        if skip + top < len(items):
            rest = "&".join(f"{quote(k)}={quote(str(v))}" for k, v in query.items() if k != "$skiptoken")
            answer["@odata.nextLink"] = (
                f"{graph.next_link_base or graph.base}/v1.0/users/{graph.user}/mailFolders/{folder}/messages"
                f"?{rest}&$skiptoken={skip + top}"
            )
        return self._json(200, answer)

    def _message(self, method: str, message: Message, parts: list[str], query: dict, body: bytes, fault) -> int:
        graph = self.graph
        if not parts and method == "GET":
            return self._json(200, {"id": message.id, "parentFolderId": message.folder})
        if not parts and method == "PATCH":
            message.is_read = bool(json.loads(body).get("isRead", message.is_read))
            return self._json(200, {"id": message.id, "isRead": message.is_read})
        if parts == ["move"] and method == "POST":
            if graph.on_move is not None:
                graph.on_move(message.id)
            with graph.lock:
                message.folder = json.loads(body)["destinationId"]
                graph.moves.append((message.id, time.monotonic()))
            return self._json(201, {"id": message.id, "parentFolderId": message.folder})
        if parts == ["attachments"]:
            fields = {"id", "name", "contentType", "size", "isInline"} & set(query.get("$select", "").split(","))
            listed = [
                {
                    "@odata.type": f"#microsoft.graph.{a.kind}",
                    **{k: v for k, v in _attachment_json(a).items() if k in fields},
                }
                for a in message.attachments
            ]
            return self._json(200, {"value": listed})
        attachment = next((a for a in message.attachments if len(parts) == 3 and a.id == parts[1]), None)
        if attachment is not None and parts[2] == "$value":
            return self._raw(attachment, fault)
        return self._json(404, {"error": {"code": "ErrorItemNotFound", "message": "/".join(parts)}})

    def _raw(self, attachment: Attachment, fault) -> int:
        chunks = attachment.chunks() if attachment.chunks else iter([attachment.content or b""])
        self.send_response(200)
        self.send_header(
            "Content-Type", "message/rfc822" if attachment.kind == "itemAttachment" else attachment.content_type
        )
        self.send_header("Content-Length", str(attachment.size))
        self.end_headers()
        self.wfile.flush()
        if fault is not None and fault[0] == "stall":
            time.sleep(fault[1])  # the played stall: headers sent, then no body
            self.close_connection = True
            return 200
        for chunk in chunks:
            self.wfile.write(chunk)
            if self.graph.latency and attachment.chunks:
                time.sleep(self.graph.latency / 10)  # a slow download, chunk by chunk
        return 200

    def _json(self, status: int, payload: dict, headers: dict | None = None) -> int:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        return status


def _message_json(message: Message, fields: set[str]) -> dict:
    full = {
        "id": message.id,
        "subject": message.subject,
        "receivedDateTime": message.received,
        "internetMessageId": message.internet_message_id,
        "hasAttachments": bool(message.attachments),
        "from": {"emailAddress": {"name": "Proveedor", "address": message.sender}},
        "body": {"content": "x" * 1000},
        "isRead": message.is_read,
        "parentFolderId": message.folder,
    }
    return {k: v for k, v in full.items() if k in fields or not fields}


def _attachment_json(attachment: Attachment) -> dict:
    return {
        "id": attachment.id,
        "name": attachment.name,
        "contentType": attachment.content_type,
        "size": attachment.size,
        "isInline": attachment.inline,
    }
