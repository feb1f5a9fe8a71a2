"""Mailboxes checked when saved: a folder mailbox's folder must exist and be readable (the form says so
in Spanish and saves nothing); a Microsoft 365 mailbox's "Probar conexión" makes one real call to the
fake Graph (real HTTPS, real MSAL) and says in Spanish what is wrong, or what it found."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import translation

from tests.support.fake_graph import FakeGraph
from tests.support.processes import free_port
from webapp.inbox.forms import source_problems
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-cl"}
NOBODY = 65534


@pytest.fixture
def root(monkeypatch):
    """A folder mailboxes may read, that another account (nobody) may traverse too."""
    with tempfile.TemporaryDirectory(prefix="mailbox-root-") as name:
        path = Path(name)
        path.chmod(0o755)
        monkeypatch.setenv("FOLDER_MAILBOX_ROOT", str(path))
        yield path


def _add(admin_client, settings: dict):
    form = {"name": "proveedores", "kind": "folder", "settings": json.dumps(settings), "active": "on"}
    return admin_client.post(reverse("admin:inbox_mailbox_add"), form, **SPANISH)


def test_a_folder_that_does_not_exist_is_refused_in_spanish_and_nothing_is_saved(admin_client, root):
    answer = _add(admin_client, {"path": str(root / "no-existe")})
    assert answer.status_code == 200
    assert "No hay ninguna carpeta en esa ruta." in answer.content.decode()
    assert not Mailbox.objects.exists()
    (root / "entrada").mkdir()
    assert _add(admin_client, {"path": str(root / "entrada")}).status_code == 302
    assert Mailbox.objects.get().settings == {"path": str(root / "entrada")}


def _problems_as(uid: int | None, folder: Path) -> list[str]:
    """source_problems() in a forked child, as `uid` (None: as this process): root reads any folder."""
    with translation.override("es"):
        source_problems("folder", {"path": "/"})  # the catalogue is loaded before the child drops its rights
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no database, no network, only the check
        try:
            os.close(read)
            if uid is not None:
                os.setgid(uid)
                os.setuid(uid)
            with translation.override("es"):
                answer = source_problems("folder", {"path": str(folder)})[1]
            os.write(write, json.dumps(answer).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        said = pipe.read()
    os.waitpid(pid, 0)
    problems: list[str] = json.loads(said)
    return problems


def test_a_folder_the_application_may_not_read_is_refused(root):
    locked = root / "bloqueada"
    locked.mkdir()
    locked.chmod(0o000)
    reader = NOBODY if os.geteuid() == 0 else None
    assert _problems_as(reader, locked) == [
        "La carpeta existe, pero esta aplicación no puede leerla (revise sus permisos)."
    ]
    locked.chmod(0o755)
    assert _problems_as(reader, locked) == []


# Microsoft 365 -------------------------------------------------------------------------------------


@pytest.fixture
def graph(tmp_path, monkeypatch, redis_client):
    with FakeGraph(tmp_path) as fake:
        for name, value in {
            **fake.env(),
            "GRAPH_READ_TIMEOUT": "1",
            "GRAPH_CONNECT_TIMEOUT": "1",
            "GRAPH_BACKOFF_SECONDS": "0.05",
        }.items():
            monkeypatch.setenv(name, value)
        yield fake


def _probe(admin_client, graph: FakeGraph, **settings) -> str:
    """Press "Probar conexión" on the mailbox's page; the message it shows."""
    mailbox = Mailbox.objects.create(
        name="m365", kind=Mailbox.Kind.GRAPH, settings={"user": graph.user, "folder": "Inbox", **settings}
    )
    page = admin_client.get(reverse("admin:inbox_mailbox_change", args=[mailbox.pk]), **SPANISH).content.decode()
    url = reverse("admin:inbox_mailbox_test_connection", args=[mailbox.pk])
    assert f'formaction="{url}"' in page and "Probar conexión" in page
    answer = admin_client.post(url, **SPANISH)
    assert answer.status_code == 302
    shown = [str(message) for message in get_messages(answer.wsgi_request)]
    assert len(shown) == 1, shown
    return shown[0]


def test_a_working_connection_says_what_it_found(admin_client, graph):
    for number in range(3):
        graph.add_message(f"Factura {number}")
    said = _probe(admin_client, graph)
    assert said == 'm365: Conexión correcta: la carpeta "Inbox" de invoices@contoso.test tiene 3 mensajes.'
    assert graph.token_requests == 1 and graph.requests_to("/mailFolders/inbox")


def test_a_nested_folder_is_found_by_its_names(admin_client, graph):
    graph.folders["suppliers-id"] = {"displayName": "Proveedores", "parent": "inbox-id"}
    graph.add_message("Factura", folder="suppliers-id")
    said = _probe(admin_client, graph, folder="Inbox/Proveedores")
    assert said.endswith('la carpeta "Proveedores" de invoices@contoso.test tiene 1 mensajes.'), said


def test_a_wrong_client_secret_is_named(admin_client, graph, monkeypatch):
    monkeypatch.setenv("GRAPH_CLIENT_SECRET", "a-secret-that-expired")
    said = _probe(admin_client, graph)
    assert said == "m365: Microsoft rechazó el secreto de cliente (GRAPH_CLIENT_SECRET): es incorrecto o venció."
    assert graph.requests_to("/v1.0/") == [], "no Graph call without a token"


def test_an_unknown_tenant_is_named(admin_client, graph, monkeypatch):
    monkeypatch.setenv("GRAPH_TENANT_ID", "otro-inquilino")
    assert _probe(admin_client, graph) == "m365: Microsoft no reconoce el inquilino (GRAPH_TENANT_ID)."


def test_missing_credentials_are_named_without_calling_anyone(admin_client, graph, monkeypatch):
    monkeypatch.delenv("GRAPH_CLIENT_SECRET")
    said = _probe(admin_client, graph)
    assert "La aplicación de Microsoft 365 no está configurada en el servidor" in said
    assert graph.token_requests == 0


def test_a_missing_consent_is_named(admin_client, graph):
    graph.fail("/mailFolders", (403,))
    said = _probe(admin_client, graph)
    assert said.startswith("m365: La aplicación no tiene permiso para leer este buzón")
    assert "consentimiento de administrador" in said


def test_an_unknown_user_is_named(admin_client, graph):
    said = _probe(admin_client, graph, user="nadie@contoso.test")
    assert said == 'm365: Microsoft 365 no tiene el buzón nadie@contoso.test; revise el ajuste "user".'


def test_an_unknown_folder_is_named(admin_client, graph):
    said = _probe(admin_client, graph, folder="Inbox/Proveedores")
    assert said == 'm365: El buzón invoices@contoso.test no tiene la carpeta "Proveedores"; revise el ajuste "folder".'


def test_an_unreachable_graph_is_a_network_problem(admin_client, graph, monkeypatch):
    monkeypatch.setenv("GRAPH_ENDPOINT", f"https://127.0.0.1:{free_port()}")
    said = _probe(admin_client, graph)
    assert said == "m365: No se pudo conectar con Microsoft 365 desde el servidor (red, proxy o cortafuegos)."


def test_a_graph_that_does_not_answer_in_time_is_a_timeout(admin_client, graph):
    graph.latency = 3  # longer than GRAPH_READ_TIMEOUT
    said = _probe(admin_client, graph)
    assert said.startswith("m365: Microsoft 365 no respondió a tiempo")
    assert len(graph.requests_to("/v1.0/")) == 1, "one call, not retried while a person waits"


def test_the_action_on_the_list_tests_each_selected_mailbox(admin_client, graph, root):
    (root / "entrada").mkdir()
    folder = Mailbox.objects.create(name="carpeta", settings={"path": str(root / "entrada")})
    m365 = Mailbox.objects.create(name="m365", kind=Mailbox.Kind.GRAPH, settings={"user": graph.user})
    answer = admin_client.post(
        reverse("admin:inbox_mailbox_changelist"),
        {"action": "test_connection", "_selected_action": [folder.pk, m365.pk]},
        **SPANISH,
    )
    shown = sorted(str(message) for message in get_messages(answer.wsgi_request))
    assert shown == [
        "carpeta: la carpeta existe y se puede leer.",
        'm365: Conexión correcta: la carpeta "Inbox" de invoices@contoso.test tiene 0 mensajes.',
    ]
