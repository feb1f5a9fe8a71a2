"""Two mailboxes read through the real pipeline, and a clerk who may see only the first.

`norte` is the clerk's. `sur-secreto` is full of rows of every kind: runs (failed, running),
quarantined mail, failed previews, documents of an issuer only it received, an envelope that
holds a document `norte` received too (each mailbox has its own Document of it, with its own XML
and PDF), a note referencing that document, and `norte` holds a note referencing a document only
`sur` received (which links to nothing). Every text only `sur` carries holds "secret" (SECRET), so a page that shows
anything of it is caught by one search; `sur_urls` are the admin and download URLs of its rows.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth.models import Permission, User
from django.urls import reverse

from pipeline import queues, samples
from tests.support.inline import process_mailbox
from webapp.documents.models import Document, XmlClassification
from webapp.inbox.models import Attachment, Blob, FetchRun, Mailbox, MailboxAccess, MailMessage

#: Every text of the other mailbox holds this (case aside); none of the clerk's does.
SECRET = "secret"
SUR_ISSUER_RUT = samples.valid_rut(77_777_777)
SUR_ISSUER_NAME = "Comercial Sur Secreta Ltda"
ISSUED = dt.date(2024, 5, 14)
#: Permissions the clerk lacks, whatever else they hold.
HELD_BACK = {"view_all_mailboxes", "change_mailbox_source"}


@dataclass
class Pair:
    norte: Mailbox
    sur: Mailbox
    clerk: User
    #: Admin and download URLs of rows only `sur` has.
    sur_urls: list[str] = field(default_factory=list)
    #: Dead letter ids: `sur`'s, and the clerk's own.
    sur_letters: list[str] = field(default_factory=list)
    norte_letter: str = ""


def _mail(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)


def _note(folio: int, refers_to: int) -> bytes:
    return samples.dte_xml(
        doc_type=61, folio=folio, reference=samples.Reference(folio=refers_to, issue_date=ISSUED), envelope=False
    )


def _sur_mails(folder: Path) -> None:
    envelope = samples.envio_dte(documents=[samples.Dte(folio=100), samples.Dte(folio=101)])
    pdf = samples.invoice_pdf(issuer_name=samples.DEFAULT_ISSUER_NAME, folio=100, total=119)
    _mail(
        folder,
        "01.eml",
        samples.supplier_email(
            sender="facturas@sur-secreto.cl",
            subject="Asunto sur secreto",
            attachments=[
                ("envio-sur-secreto.xml", "application/xml", envelope),
                ("pdf-sur-secreto-100.pdf", "application/pdf", pdf),
            ],
        ),
    )
    _mail(
        folder,
        "02.eml",
        samples.supplier_email(
            sender="dte@sur-secreto.cl",
            subject="Asunto sur secreto 555",
            issuer_rut=SUR_ISSUER_RUT,
            issuer_name=SUR_ISSUER_NAME,
            folio=555,
        ),
    )
    _mail(
        folder,
        "03.eml",
        samples.supplier_email(
            sender="notas@sur-secreto.cl",
            subject="Nota sur secreta 9",
            attachments=[("nota-sur-secreta-9.xml", "application/xml", _note(9, refers_to=100))],
        ),
    )


def _norte_mails(folder: Path) -> None:
    xml = samples.dte_xml(folio=100, envelope=False)
    pdf = samples.invoice_pdf(issuer_name=samples.DEFAULT_ISSUER_NAME, folio=100, total=119)
    _mail(
        folder,
        "01.eml",
        samples.supplier_email(
            subject="Factura norte 100",
            attachments=[("DTE_100.xml", "application/xml", xml), ("Factura_100.pdf", "application/pdf", pdf)],
        ),
    )
    _mail(
        folder,
        "02.eml",
        samples.supplier_email(
            subject="Nota norte 7", attachments=[("Nota_7.xml", "application/xml", _note(7, refers_to=101))]
        ),
    )


def _troubles(mailbox: Mailbox, *, label: str, quarantined: int) -> None:
    """A failed run, a running one, quarantined mail and a failed preview, all named by `label`."""
    FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.FAILED, error=f"error-{label}")
    FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.RUNNING)
    for number in range(quarantined):
        MailMessage.objects.create(
            mailbox=mailbox,
            source_id=f"q-{label}-{number}.eml",
            subject=f"Cuarentena {label} {number}",
            sender=f"x@{label}.cl",
            status=MailMessage.Status.QUARANTINED,
            error=f"cuarentena-{label}",
        )
    pdf = Attachment.objects.filter(message__mailbox=mailbox, content_type="application/pdf").first()
    Attachment.objects.filter(pk=pdf.pk).update(
        preview_status=Attachment.PreviewStatus.FAILED, preview_error=f"preview-{label}"
    )


def dead_letter(redis_client, *, actor: str, args: list, queue: str = "default", reason: str = "") -> str:
    message_id = f"dead-{time.time_ns()}"
    body = {
        "queue_name": queue,
        "actor_name": actor,
        "args": args,
        "kwargs": {},
        "options": {"redis_message_id": message_id, "retries": 3},
        "message_id": message_id,
        "message_timestamp": int(time.time() * 1000),
    }
    redis_client.zadd(f"dramatiq:{queue}.XQ", {message_id: time.time() * 1000})
    redis_client.hset(f"dramatiq:{queue}.XQ.msgs", message_id, json.dumps(body))
    if reason:
        redis_client.set(queues.dead_reason_key(message_id), reason)
    return message_id


def clerk_of(mailbox: Mailbox, username: str = "clerk") -> User:
    """Staff with every permission of the inbox and documents apps but those in HELD_BACK, limited to `mailbox`."""
    user = User.objects.create_user(username, password="x", is_staff=True)
    granted = Permission.objects.filter(content_type__app_label__in=["inbox", "documents"]).exclude(
        codename__in=HELD_BACK
    )
    user.user_permissions.add(*granted)
    MailboxAccess.objects.create(mailbox=mailbox, user=user)
    return User.objects.get(pk=user.pk)  # no cached permissions


def _admin_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _sur_urls(sur: Mailbox, norte: Mailbox) -> list[str]:
    norte_blobs = Blob.objects.filter(attachments__message__mailbox=norte)
    rows = [
        sur,
        *FetchRun.objects.filter(mailbox=sur),
        *MailMessage.objects.filter(mailbox=sur),
        *Attachment.objects.filter(message__mailbox=sur),
        *Blob.objects.filter(attachments__message__mailbox=sur).exclude(pk__in=norte_blobs).distinct(),
        *Document.objects.filter(mailbox=sur),
        *XmlClassification.objects.filter(attachment__message__mailbox=sur),
        *MailboxAccess.objects.filter(mailbox=sur),
    ]
    urls = [_admin_url(row) for row in rows]
    for attachment in Attachment.objects.filter(message__mailbox=sur):
        urls += [reverse("inbox:attachment_download", args=[attachment.pk])]
    return urls


def mailbox_pair(tmp_path: Path, redis_client) -> Pair:
    sur = Mailbox.objects.create(name="sur-secreto", settings={"path": str(tmp_path / "sur")})
    _sur_mails(tmp_path / "sur")
    assert process_mailbox(sur).raised == []
    norte = Mailbox.objects.create(name="norte", settings={"path": str(tmp_path / "norte")})
    _norte_mails(tmp_path / "norte")
    assert process_mailbox(norte).raised == []
    # folio 100 is a Document in each mailbox, read from that mailbox's own XML and PDF
    for mailbox in (sur, norte):
        own = Document.objects.get(mailbox=mailbox, folio=100, doc_type=33)
        assert own.xml_attachment.message.mailbox == mailbox and own.pdf_attachment.message.mailbox == mailbox
    # norte's note refers to 101, which only sur received: it links to nothing
    assert Document.objects.get(mailbox=norte, doc_type=61, folio=7).references.get().target is None
    _troubles(sur, label="sur-secreto", quarantined=3)
    _troubles(norte, label="norte", quarantined=1)
    bob = User.objects.create_user("bob", password="x", is_staff=True)
    MailboxAccess.objects.create(mailbox=sur, user=bob)
    pair = Pair(norte=norte, sur=sur, clerk=clerk_of(norte), sur_urls=_sur_urls(sur, norte))
    sur_message = MailMessage.objects.filter(mailbox=sur).first()
    sur_attachment = Attachment.objects.filter(message__mailbox=sur).first()
    sur_run = FetchRun.objects.filter(mailbox=sur).first()
    pair.sur_letters = [
        dead_letter(redis_client, actor="save_message", args=[sur_message.pk], reason="save sur-secreto"),
        dead_letter(redis_client, actor="render_attachment", args=[sur_attachment.pk], queue="render", reason="r"),
        dead_letter(redis_client, actor="fetch_mailbox", args=[sur_run.pk], reason="fetch sur-secreto"),
        dead_letter(redis_client, actor="tick", args=[], reason="tick"),
    ]
    norte_message = MailMessage.objects.filter(mailbox=norte).first()
    pair.norte_letter = dead_letter(redis_client, actor="save_message", args=[norte_message.pk], reason="norte")
    return pair
