"""add_mailbox checks a mailbox whole before it stores anything: what is wrong is one line, exit status 2."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, ManagementUtility, call_command

from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db


def test_an_invalid_name_stores_no_mailbox(tmp_path):
    with pytest.raises(CommandError) as refused:
        call_command("add_mailbox", "facturas proveedores!", "--folder", str(tmp_path))
    assert refused.value.returncode == 2
    assert "name" in str(refused.value) and "\n" not in str(refused.value)
    assert not Mailbox.objects.exists(), "nothing stored, and nothing active for the next tick"


@pytest.mark.parametrize(
    "options",
    [
        ["--graph", "invoices@contoso.com", "--graph-folder", "Inbox//Proveedores"],
        ["--graph", "invoices@contoso.com", "--processed-folder", "\x07Hecho"],
        ["--graph", "invoices@contoso/../../users"],
    ],
    ids=["an empty folder name", "a control character", "an address that leaves its URL path"],
)
def test_invalid_source_settings_leave_an_existing_mailbox_as_it_was(options):
    call_command("add_mailbox", "m365", "--graph", "invoices@contoso.com", "--inactive")
    before = Mailbox.objects.values().get(name="m365")
    with pytest.raises(CommandError) as refused:
        call_command("add_mailbox", "m365", *options)
    assert refused.value.returncode == 2 and "\n" not in str(refused.value)
    assert Mailbox.objects.values().get(name="m365") == before


def test_the_command_line_says_it_in_one_line_with_status_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "add_mailbox", "bad name", "--folder", str(tmp_path)]).execute()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "bad name" in err, err
    assert not Mailbox.objects.exists()


def test_a_valid_mailbox_is_created_then_updated(tmp_path, capsys):
    call_command("add_mailbox", "suppliers", "--folder", str(tmp_path), "--inactive")
    call_command("add_mailbox", "suppliers", "--folder", str(tmp_path))
    mailbox = Mailbox.objects.get()
    assert mailbox.active and mailbox.settings == {"path": str(tmp_path.resolve())}
    assert capsys.readouterr().out.splitlines() == [
        f"created mailbox suppliers: folder {tmp_path.resolve()}",
        f"updated mailbox suppliers: folder {tmp_path.resolve()}",
    ]
