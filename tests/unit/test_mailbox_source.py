"""Where a mailbox reads from is for operators: `inbox.change_mailbox_source` alone changes its kind and
settings (and adds mailboxes), and what they enter is checked (webapp/inbox/forms.py)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.support.mailbox_pair import clerk_of
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-CL,es;q=0.9"}


@pytest.fixture
def root(tmp_path, monkeypatch):
    (tmp_path / "mail" / "proveedores").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.setenv("FOLDER_MAILBOX_ROOT", str(tmp_path / "mail"))
    return tmp_path / "mail"


@pytest.fixture
def mailbox(root):
    return Mailbox.objects.create(name="proveedores", settings={"path": str(root / "proveedores")})


def form(mailbox: Mailbox, *, kind: str = "folder", settings: object = None, name: str | None = None) -> dict:
    return {
        "name": name or mailbox.name,
        "kind": kind,
        "settings": json.dumps(mailbox.settings if settings is None else settings),
        "active": "on",
        "_save": "Save",
    }


def change(client, mailbox, data, **extra):
    return client.post(reverse("admin:inbox_mailbox_change", args=[mailbox.pk]), data, **extra)


def test_a_clerk_who_may_change_a_mailbox_cannot_repoint_it(client, mailbox, tmp_path):
    clerk = clerk_of(mailbox)
    assert clerk.has_perm("inbox.change_mailbox") and not clerk.has_perm("inbox.change_mailbox_source")
    client.force_login(clerk)
    page = client.get(reverse("admin:inbox_mailbox_change", args=[mailbox.pk])).content.decode()
    assert 'name="settings"' not in page and 'name="kind"' not in page, "shown, not editable"
    assert 'name="active"' in page
    saved = change(
        client, mailbox, form(mailbox, kind="graph", settings={"user": "ceo@contoso.com"}, name="proveedores-2")
    )
    assert saved.status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.name == "proveedores-2", "what is not the source stays theirs to change"
    assert (mailbox.kind, mailbox.settings) == ("folder", {"path": str(tmp_path / "mail" / "proveedores")})
    assert client.get(reverse("admin:inbox_mailbox_add")).status_code == 403, "a new mailbox is a new source"


@pytest.fixture
def operator(client, mailbox):
    user = clerk_of(mailbox, "operator")
    user.user_permissions.add(Permission.objects.get(codename="change_mailbox_source"))
    client.force_login(user)
    return client


def errors(response) -> list[str]:
    assert response.status_code == 200, "the form comes back"
    return response.context["adminform"].form.errors.get("settings", [])


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"path": "{elsewhere}"}, "inside the folder allowed for mailboxes"),
        ({"path": "{root}/../elsewhere"}, "inside the folder allowed for mailboxes"),
        ({"path": "{root}/link-out"}, "inside the folder allowed for mailboxes"),
        ({"path": "{root}/nada"}, "There is no folder at that path."),
        ({"path": "mail/proveedores"}, "must be absolute"),
        ({}, 'needs "path"'),
        ({"path": "{root}/proveedores", "user": "x@y.cl"}, "Unknown setting(s) for this kind of mailbox: user."),
        (["{root}/proveedores"], "must be a JSON object"),
    ],
    ids=["outside", "dotdot", "symlink-out", "missing", "relative", "no-path", "unknown-key", "not-an-object"],
)
def test_folder_settings_are_checked(operator, mailbox, root, tmp_path, settings, says):
    (root / "link-out").symlink_to(tmp_path / "elsewhere")
    filled = json.loads(json.dumps(settings).replace("{root}", str(root)).replace("{elsewhere}", str(tmp_path)))
    before = mailbox.settings
    problems = errors(change(operator, mailbox, form(mailbox, settings=filled)))
    assert any(says in problem for problem in problems), problems
    assert all(str(tmp_path) not in problem for problem in problems), "the root is not shown"
    mailbox.refresh_from_db()
    assert mailbox.settings == before


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"user": "invoices@contoso.com/../../users/ceo@contoso.com"}, 'needs "user"'),
        ({"user": "invoices@contoso.com?$select=x"}, 'needs "user"'),
        ({"user": "invoices"}, 'needs "user"'),
        ({"user": "invoices@contoso.com", "folder": "Inbox//Proveedores"}, '"folder" must be a folder path'),
        ({"user": "invoices@contoso.com", "processed_folder": "Hecho\x00"}, '"processed_folder" must be a folder'),
        ({"user": "invoices@contoso.com", "folder": 7}, '"folder" must be a folder path'),
        ({"user": "invoices@contoso.com", "mark_read": "yes"}, '"mark_read" must be true or false'),
        ({"user": "invoices@contoso.com", "mark_read": True, "processed_folder": "Hecho"}, "Choose one"),
        ({"user": "invoices@contoso.com", "proccessed_folder": "Hecho"}, "Unknown setting(s)"),
    ],
    ids=["user-path", "user-query", "user-plain", "empty-name", "control", "not-text", "flag", "both", "typo"],
)
def test_graph_settings_are_checked(operator, mailbox, settings, says):
    problems = errors(change(operator, mailbox, form(mailbox, kind="graph", settings=settings)))
    assert any(says in problem for problem in problems), problems
    mailbox.refresh_from_db()
    assert mailbox.kind == "folder"


def test_an_operator_repoints_a_mailbox_to_good_settings(operator, mailbox, root):
    (root / "otra").mkdir()
    assert change(operator, mailbox, form(mailbox, settings={"path": f"{root}/proveedores/../otra"})).status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.settings == {"path": str(root / "otra")}, "kept resolved"
    graph = {"user": "1b2c3d4e-0000-4abc-8def-0123456789ab", "folder": "Inbox/Proveedores", "mark_read": True}
    assert change(operator, mailbox, form(mailbox, kind="graph", settings=graph)).status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.kind, mailbox.settings) == ("graph", graph)
    assert operator.get(reverse("admin:inbox_mailbox_add")).status_code == 200


def test_the_reasons_are_in_spanish_for_a_spanish_browser(operator, mailbox, tmp_path):
    problems = errors(change(operator, mailbox, form(mailbox, settings={"path": str(tmp_path)}), **SPANISH))
    assert problems == ["La carpeta debe estar dentro de la carpeta permitida para buzones (FOLDER_MAILBOX_ROOT)."]
    graph = errors(change(operator, mailbox, form(mailbox, kind="graph", settings={"user": "x"}), **SPANISH))
    assert graph == [
        'Un buzón de Microsoft 365 necesita "user": su dirección de correo (invoices@contoso.com) '
        "o su id de objeto (GUID)."
    ]
