"""Lists cost a fixed number of queries: the admin changelists, /metrics and the pipeline dashboard
render 30 rows with no more queries than 3 (no query per row)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from webapp.documents.models import Document, DocumentReference, DocumentSource, XmlClassification
from webapp.inbox.models import Attachment, Blob, FetchRun, Mailbox, MailboxAccess, MailMessage

pytestmark = pytest.mark.django_db

#: Rows before and after: a query per row would show as 27 more.
FEW, MANY = 3, 30

#: Every changelist of the project's own models.
CHANGELISTS = (
    "admin:inbox_mailbox_changelist",
    "admin:inbox_fetchrun_changelist",
    "admin:inbox_mailmessage_changelist",
    "admin:inbox_blob_changelist",
    "admin:inbox_attachment_changelist",
    "admin:inbox_mailboxaccess_changelist",
    "admin:documents_document_changelist",
    "admin:documents_xmlclassification_changelist",
)

_serial = itertools.count()


def add_rows(count: int) -> None:
    """`count` mailboxes, each with a finished run, a quarantined message, its PDF and XML
    attachments with their blobs, a user's and a group's access, and a document read from the XML
    that references the previous one."""
    for _ in range(count):
        n = next(_serial)
        mailbox = Mailbox.objects.create(name=f"box-{n}")
        started = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=n)
        run = FetchRun.objects.create(
            mailbox=mailbox,
            status=FetchRun.Status.COMPLETED_WITH_ERRORS,
            messages_seen=1,
            attachments_failed=1,
            started_at=started,
            finished_at=started + dt.timedelta(seconds=3),
            error="one attachment failed",
        )
        message = MailMessage.objects.create(
            mailbox=mailbox,
            fetch_run=run,
            source_id=f"m-{n}",
            subject=f"Factura {n}",
            status=MailMessage.Status.QUARANTINED,
            error="killed its worker",
        )
        pdf, xml = (
            Attachment.objects.create(
                message=message,
                position=position,
                original_filename=f"{n}.{ext}",
                filename=f"{n}.{ext}",
                content_type=content_type,
                blob=Blob.objects.create(
                    sha256=f"{n:060d}{position:04d}", size=100 + n, content_type=content_type, storage_name=f"b/{n}"
                ),
                status=Attachment.Status.STORED,
                preview_status=preview,
                preview_name=f"p/{n}.png" if preview == Attachment.PreviewStatus.READY else "",
                preview_error="bad pdf" if preview == Attachment.PreviewStatus.FAILED else "",
            )
            for position, (ext, content_type, preview) in enumerate(
                [
                    (
                        "pdf",
                        "application/pdf",
                        Attachment.PreviewStatus.READY if n % 2 else Attachment.PreviewStatus.FAILED,
                    ),
                    ("xml", "application/xml", Attachment.PreviewStatus.NONE),
                ]
            )
        )
        MailboxAccess.objects.create(mailbox=mailbox, user=User.objects.create_user(f"clerk-{n}", is_staff=True))
        MailboxAccess.objects.create(mailbox=mailbox, group=Group.objects.create(name=f"team-{n}"))
        XmlClassification.objects.create(
            attachment=xml, kind=XmlClassification.Kind.ENVELOPE, status=XmlClassification.Status.PARSED
        )
        document = Document.objects.create(
            mailbox=mailbox,
            doc_type=33,
            type_name="Factura electrónica",
            folio=1000 + n,
            issue_date=dt.date(2026, 3, 1),
            issuer_rut="76086428-5",
            issuer_name=f"Proveedor {n}",
            total=119_000,
            xml_attachment=xml,
            pdf_attachment=pdf,
            printable_status=Document.PrintableStatus.READY if n % 2 else Document.PrintableStatus.PENDING,
        )
        DocumentSource.objects.create(document=document, attachment=xml)
        previous = Document.objects.exclude(pk=document.pk).order_by("-pk").first()
        DocumentReference.objects.create(document=document, line=1, ref_type="33", ref_folio="1", target=previous)


def queries_for(client, url: str, **extra) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **extra)
    assert response.status_code == 200, response.content[:500]
    return len(captured)


def assert_flat(client, url: str, max_queries, **extra) -> None:
    """The page with MANY rows costs no more queries than with FEW."""
    add_rows(FEW)
    client.get(url, **extra)  # caches (content types, translations) are filled before counting
    few = queries_for(client, url, **extra)
    add_rows(MANY - FEW)
    with max_queries(few):
        response = client.get(url, **extra)
    assert response.status_code == 200


@pytest.mark.parametrize("name", CHANGELISTS)
def test_admin_changelist_costs_the_same_for_3_and_30_rows(admin_client, django_assert_max_num_queries, name):
    url = reverse(name)
    assert_flat(admin_client, url, django_assert_max_num_queries)
    changelist = admin_client.get(url).context["cl"]
    assert changelist.result_count == changelist.model.objects.count() >= MANY  # the rows are listed


def test_metrics_cost_the_same_for_3_and_30_mailboxes(client, redis_client, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setenv("METRICS_TOKEN", "s3cret")
    auth = {"HTTP_AUTHORIZATION": "Bearer s3cret"}
    assert_flat(client, reverse("inbox:metrics"), django_assert_max_num_queries, **auth)
    body = client.get(reverse("inbox:metrics"), **auth).content.decode()
    assert body.count("invoicemail_last_run_timestamp_seconds{") == MANY
    for mailbox in Mailbox.objects.all():
        assert f'invoicemail_failures_total{{kind="attachment",mailbox="{mailbox.name}"}} 1.0' in body
        assert f'invoicemail_fetch_run_duration_seconds_sum{{mailbox="{mailbox.name}"}} 3.0' in body


def test_pipeline_dashboard_costs_the_same_for_3_and_30_rows(admin_client, redis_client, django_assert_max_num_queries):
    assert_flat(admin_client, reverse("pipeline_dashboard"), django_assert_max_num_queries)
    page = admin_client.get(reverse("pipeline_dashboard")).content.decode()
    assert page.count("one attachment failed") == 20 and page.count("never run") == 0


def test_document_page_costs_the_same_for_3_and_30_references_and_sources(admin_client, django_assert_max_num_queries):
    add_rows(MANY + 1)
    document, *others = Document.objects.order_by("pk")
    xml = list(Attachment.objects.filter(content_type="application/xml").order_by("pk"))

    def link(upto: int) -> None:
        for line, (target, attachment) in enumerate(zip(others[:upto], xml[1 : upto + 1], strict=True), start=2):
            DocumentReference.objects.get_or_create(document=document, line=line, defaults={"target": target})
            DocumentSource.objects.get_or_create(document=document, attachment=attachment)

    url = reverse("admin:documents_document_change", args=[document.pk])
    # a reference links a document of its own mailbox only: the targets are made the document's
    Document.objects.filter(pk__in=[other.pk for other in others]).update(mailbox_id=document.mailbox_id)
    link(FEW)
    admin_client.get(url)
    few = queries_for(admin_client, url)
    link(MANY)
    with django_assert_max_num_queries(few):
        page = admin_client.get(url).content.decode()
    assert all(reverse("admin:documents_document_change", args=[target.pk]) in page for target in others[:MANY])


def test_message_page_costs_the_same_for_3_and_30_attachments(admin_client, django_assert_max_num_queries):
    add_rows(1)
    message = MailMessage.objects.get()

    def attach(upto: int) -> None:
        for position in range(message.attachments.count(), upto):
            blob = Blob.objects.create(sha256=f"extra-{position}", size=position, storage_name=f"x/{position}")
            Attachment.objects.create(
                message=message,
                position=position,
                original_filename=f"{position}.pdf",
                filename=f"{position}.pdf",
                blob=blob,
                status=Attachment.Status.STORED,
            )

    url = reverse("admin:inbox_mailmessage_change", args=[message.pk])
    attach(FEW)
    admin_client.get(url)
    few = queries_for(admin_client, url)
    attach(MANY)
    with django_assert_max_num_queries(few):
        page = admin_client.get(url).content.decode()
    assert page.count(f"{MANY - 1}.pdf") >= 1 and message.attachments.count() == MANY


def test_the_document_list_with_its_totals_is_a_handful_of_queries(admin_client, django_assert_max_num_queries):
    """Session and user, each filter's choices in one pass (and the cesiones, the mailboxes and the issuers
    suggested), the count and the date hierarchy's range from the totals' own aggregate, the page: 8 in
    all, at 30 rows as at 100,000 (there the hierarchy reads its years too when they are not two in a row)."""
    add_rows(MANY)
    url = reverse("admin:documents_document_changelist")
    admin_client.get(url)
    with django_assert_max_num_queries(8):
        response = admin_client.get(url)
    changelist = response.context["cl"]
    assert changelist.result_count == MANY and len(changelist.result_list) == MANY
    assert response.context["totals_bar"].totals.count == MANY
    assert f"{MANY * 119_000:,}".replace(",", ".") in response.content.decode()  # the totals bar's sum
