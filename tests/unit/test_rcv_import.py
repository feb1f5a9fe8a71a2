"""Importing the SII purchase register: the service, `manage.py import_rcv`, and the admin's pages."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.support.mailbox_pair import clerk_of
from tests.unit.test_rcv_reader import BROKEN, VARIANTS, sample
from webapp.inbox.models import Mailbox
from webapp.register.models import RcvEntry, RcvImport
from webapp.register.services.imports import RcvImportRefused, rcv_import

pytestmark = pytest.mark.django_db

RECEIVER = "76086428-5"


def sii_name(register: str, period: str = "201906") -> str:
    return f"RCV_COMPRA_{register.upper()}_{RECEIVER}_{period}.csv"


def imported(data: bytes, name: str, **kwargs) -> RcvImport:
    return rcv_import(io.BytesIO(data), filename=name, **kwargs)


@pytest.mark.parametrize("register", sorted(VARIANTS))
def test_each_sample_is_imported_and_a_second_import_changes_nothing(register):
    first = imported(sample(VARIANTS[register]), sii_name(register))
    assert (first.register, first.receiver_rut, first.period) == (register, RECEIVER, "2019-06")
    assert (first.rows_read, first.rows_created, first.rows_failed) == (2, 2, 0)
    entries = RcvEntry.objects.filter(receiver_rut=RECEIVER, register=register, mailbox=None)
    assert entries.count() == 2
    assert {e.issuer_name for e in entries} == {"Fake Company S.A."}
    assert all(e.last_import == first for e in entries)
    assert first.sha256 and len(first.sha256) == 64
    before = list(RcvEntry.objects.values())
    again = imported(sample(VARIANTS[register]), sii_name(register))
    assert (again.rows_created, again.rows_updated, again.rows_unchanged, again.rows_failed) == (0, 0, 2, 0)
    assert list(RcvEntry.objects.values()) == before
    assert again.sha256 == first.sha256


def test_broken_rows_are_refused_with_line_and_reason_and_the_rest_imported():
    record = imported(sample(BROKEN), "RCV-compra-reclamado.csv", receiver_rut="76.086.428-5", period="2019-06")
    assert record.receiver_rut == RECEIVER and record.register == "reclamado"
    assert (record.rows_read, record.rows_created, record.rows_failed) == (5, 3, 2)
    assert [p["line"] for p in record.problems] == [5, 6]
    assert "not a RUT: 'INVALID-RUT'" in record.problems[0]["reason"]
    claimed = RcvEntry.objects.get(folio=1000055)
    assert claimed.claimed_at == datetime(2019, 6, 12, 13, 47, 23, tzinfo=UTC)
    assert claimed.claim_deadline == datetime(2019, 6, 6, 1, 58, 49, tzinfo=UTC) + timedelta(days=8)
    assert str(claimed.other_tax_rate) == "2.968000"  # 2.967999999 rounded to the column's 6 places
    assert claimed.extra == {"NCE o NDE sobre Fact. de Compra": "0"}


def test_a_later_list_moves_the_entry_and_an_older_pendiente_does_not_move_it_back():
    pending = sample(VARIANTS["pendiente"])
    imported(pending, sii_name("pendiente", "201907"))
    entry = RcvEntry.objects.get(folio=9800042)
    assert entry.register == "pendiente" and entry.acknowledged_at is None
    registered = (
        pending.replace(b"Fecha Recepcion;", b"Fecha Recepcion;Fecha Acuse;")
        .replace(b"01/07/2019 13:21:32;", b"01/07/2019 13:21:32;05/07/2019 10:00:00;")
        .replace(b"02/07/2019 17:34:28;", b"02/07/2019 17:34:28;;")
    )
    moved = imported(registered, sii_name("registro", "201907"))
    assert (moved.rows_created, moved.rows_updated, moved.rows_failed) == (0, 2, 0)
    entry.refresh_from_db()
    assert entry.register == "registro" and entry.last_import == moved
    assert entry.acknowledged_at == datetime(2019, 7, 5, 14, 0, tzinfo=UTC)
    assert RcvEntry.objects.count() == 2
    late = imported(pending, sii_name("pendiente", "201907"))
    assert (late.rows_updated, late.rows_unchanged) == (0, 2)
    entry.refresh_from_db()
    assert entry.register == "registro"


def test_the_same_document_twice_in_a_file_is_refused_the_second_time():
    head, first, _ = sample(VARIANTS["pendiente"]).split(b"\n", 2)
    record = imported(b"\n".join([head, first, first.replace(b";41838;", b";1;")]) + b"\n", sii_name("pendiente"))
    assert (record.rows_created, record.rows_failed) == (1, 1)
    assert record.problems == [{"line": 3, "reason": "the same document as line 2"}]
    assert RcvEntry.objects.get().net == 41838


def test_mailboxes_keep_their_own_entries():
    norte = Mailbox.objects.create(name="norte", settings={"path": "/nonexistent/norte"})
    imported(sample(VARIANTS["registro"]), sii_name("registro"), mailbox=norte)
    imported(sample(VARIANTS["registro"]), sii_name("registro"))
    assert RcvEntry.objects.filter(mailbox=norte).count() == 2
    assert RcvEntry.objects.filter(mailbox=None).count() == 2


def test_without_receiver_or_period_the_file_is_refused_with_what_to_give():
    with pytest.raises(RcvImportRefused, match="--receiver"):
        imported(sample(VARIANTS["registro"]), VARIANTS["registro"])
    with pytest.raises(RcvImportRefused, match="--period"):
        imported(sample(VARIANTS["registro"]), VARIANTS["registro"], receiver_rut=RECEIVER)
    with pytest.raises(RcvImportRefused, match="not valid"):
        imported(sample(VARIANTS["registro"]), VARIANTS["registro"], receiver_rut="76086428-4", period="2019-06")
    with pytest.raises(RcvImportRefused, match="no column"):
        imported(b"a;b;c\n1;2;3\n", sii_name("registro"))
    assert not RcvImport.objects.exists() and not RcvEntry.objects.exists()


def test_command_prints_what_it_did_per_file(tmp_path, capsys):
    good = tmp_path / sii_name("reclamado")
    good.write_bytes(sample(BROKEN))
    nameless = tmp_path / VARIANTS["pendiente"]
    nameless.write_bytes(sample(VARIANTS["pendiente"]))
    with pytest.raises(CommandError, match="1 of 2 files"):
        call_command("import_rcv", str(good), str(nameless))
    out, err = capsys.readouterr()
    assert f"{good}: reclamado {RECEIVER} 2019-06: 5 rows read, 3 new, 0 changed, 0 unchanged, 2 refused" in out
    assert "  line 5: refused: RUT Proveedor: not a RUT: 'INVALID-RUT'" in out
    assert "  line 6: refused: Tipo Doc: missing" in out
    assert f"{nameless}: not imported:" in err and "--receiver" in err
    call_command("import_rcv", str(nameless), "--receiver", RECEIVER, "--period", "2019-07")
    call_command("import_rcv", str(nameless), "--receiver", RECEIVER, "--period", "2019-07")
    out, _ = capsys.readouterr()
    assert "2 rows read, 2 new, 0 changed, 0 unchanged, 0 refused" in out
    assert "2 rows read, 0 new, 0 changed, 2 unchanged, 0 refused" in out


def test_command_imports_into_a_named_mailbox(tmp_path):
    norte = Mailbox.objects.create(name="norte", settings={"path": "/nonexistent/norte"})
    path = tmp_path / sii_name("registro")
    path.write_bytes(sample(VARIANTS["registro"]))
    call_command("import_rcv", str(path), "--mailbox", "norte")
    assert RcvImport.objects.get().mailbox == norte and RcvEntry.objects.filter(mailbox=norte).count() == 2
    with pytest.raises(CommandError, match="no mailbox named"):
        call_command("import_rcv", str(path), "--mailbox", "nowhere")


# --- the admin -------------------------------------------------------------------------------------------


@pytest.fixture
def mailboxes():
    norte = Mailbox.objects.create(name="norte", settings={"path": "/nonexistent/norte"})
    sur = Mailbox.objects.create(name="sur-secreto", settings={"path": "/nonexistent/sur"})
    return norte, sur


@pytest.fixture
def clerk(client, mailboxes):
    """A clerk of `norte` who may view the register and import into it."""
    user = clerk_of(mailboxes[0])
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="register"))
    client.force_login(User.objects.get(pk=user.pk))
    return client


def secret_registers(mailboxes):
    """An import into `sur` and one without a mailbox, both of issuers the clerk's import lacks."""
    norte, sur = mailboxes
    imported(sample(VARIANTS["pendiente"]), sii_name("pendiente"), mailbox=norte)
    secret = sample(BROKEN).replace(b"Fake Company S.A.", b"Secreta Sur Ltda")
    imported(secret, "sur-secret.csv", receiver_rut="77777777-7", period="2019-06", mailbox=sur)
    imported(secret, "nobody-secret.csv", receiver_rut="77777777-7", period="2019-06")


def test_clerk_sees_only_the_register_of_their_mailbox(clerk, mailboxes):
    secret_registers(mailboxes)
    pages = [
        reverse("admin:register_rcventry_changelist"),
        reverse("admin:register_rcventry_changelist") + "?_facets=True",
        reverse("admin:register_rcvimport_changelist") + "?_facets=True",
        reverse("admin:register_rcvimport_add"),
        reverse("admin:index"),
    ]
    for url in pages:
        response = clerk.get(url)
        assert response.status_code == 200, url
        page = response.content.decode().lower()
        assert "secret" not in page and "77.777.777" not in page and "77777777" not in page, url
    entries = reverse("admin:register_rcventry_changelist")
    assert sorted(e.folio for e in clerk.get(entries).context["cl"].result_list) == [380007, 9800042]
    for term in ("789456", "77777777-7", "77.777.777", "76354771-K"):  # a folio and RUTs only `sur` has
        assert list(clerk.get(entries, {"q": term}).context["cl"].result_list) == [], term
    assert [e.folio for e in clerk.get(entries, {"q": "9800042"}).context["cl"].result_list] == [9800042]
    own = RcvEntry.objects.filter(mailbox=mailboxes[0]).first()
    assert clerk.get(reverse("admin:register_rcventry_change", args=[own.pk])).status_code == 200
    for entry in RcvEntry.objects.exclude(mailbox=mailboxes[0]):
        assert clerk.get(reverse("admin:register_rcventry_change", args=[entry.pk])).status_code in (302, 404)
    for record in RcvImport.objects.exclude(mailbox=mailboxes[0]):
        assert clerk.get(reverse("admin:register_rcvimport_change", args=[record.pk])).status_code in (302, 404)


def test_who_sees_every_mailbox_sees_every_import(client, mailboxes):
    secret_registers(mailboxes)
    client.force_login(User.objects.create_superuser("boss", password="x"))
    listed = client.get(reverse("admin:register_rcvimport_changelist")).context["cl"].result_list
    assert sorted(r.filename for r in listed) == [
        "RCV_COMPRA_PENDIENTE_76086428-5_201906.csv",
        "nobody-secret.csv",
        "sur-secret.csv",
    ]
    page = client.get(reverse("admin:register_rcventry_changelist")).content.decode()
    assert "Secreta Sur Ltda" in page


def test_upload_page_imports_into_the_clerks_mailbox_and_shows_the_refused_rows(clerk, mailboxes):
    norte = mailboxes[0]
    form = clerk.get(reverse("admin:register_rcvimport_add"))
    assert "sur-secreto" not in form.content.decode()
    upload = SimpleUploadedFile(sii_name("reclamado"), sample(BROKEN), content_type="text/csv")
    response = clerk.post(reverse("admin:register_rcvimport_add"), {"file": upload, "mailbox": norte.pk}, follow=True)
    assert response.status_code == 200
    record = RcvImport.objects.get()
    assert record.mailbox == norte and record.imported_by.username == "clerk"
    assert (record.rows_created, record.rows_failed) == (3, 2)
    page = response.content.decode()
    assert "3 new, 0 changed, 0 unchanged, 2 refused" in page or "3 nuevas" in page
    assert 'id="refused-rows"' in page and "INVALID-RUT" in page
    assert RcvEntry.objects.filter(mailbox=norte).count() == 3


def test_upload_page_refuses_another_mailbox_a_missing_one_and_a_nameless_file(clerk, mailboxes):
    norte, sur = mailboxes
    url = reverse("admin:register_rcvimport_add")
    for data in ({"mailbox": sur.pk}, {}):
        upload = SimpleUploadedFile(sii_name("registro"), sample(VARIANTS["registro"]))
        response = clerk.post(url, {"file": upload, **data})
        assert response.status_code == 200 and response.context["form"].errors.get("mailbox")
    upload = SimpleUploadedFile(VARIANTS["registro"], sample(VARIANTS["registro"]))
    response = clerk.post(url, {"file": upload, "mailbox": norte.pk})
    assert response.status_code == 200 and "--receiver" in str(response.context["form"].non_field_errors())
    upload = SimpleUploadedFile(VARIANTS["registro"], sample(VARIANTS["registro"]))
    response = clerk.post(url, {"file": upload, "mailbox": norte.pk, "receiver": RECEIVER, "period": "2019-06"})
    assert response.status_code == 302
    assert RcvImport.objects.get().receiver_rut == RECEIVER and not RcvEntry.objects.exclude(mailbox=norte).exists()


def test_the_register_is_in_the_admin_index_in_spanish(client):
    client.force_login(User.objects.create_superuser("boss", password="x"))
    page = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Registro de compras del SII" in page
    assert "Importaciones del registro" in page and "Documentos del registro" in page
    changelist = client.get(reverse("admin:register_rcvimport_changelist"), HTTP_ACCEPT_LANGUAGE="es")
    assert "Importar registro de compras" in changelist.content.decode()
