"""The Document list's filters, through the admin as a clerk limited to one mailbox sees them: issuer
(typed, with the user's issuers suggested), receiver, type, mailbox, reception date range (the mail's
arrival on the Santiago calendar) and total range (in pesos, credit notes by their own amount); none
offers or finds anything of another mailbox, and none costs a query per row."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from pipeline import samples
from tests.support.inline import process_mailbox
from tests.support.mailbox_pair import SECRET, SUR_ISSUER_NAME, SUR_ISSUER_RUT, Pair, mailbox_pair
from tests.unit.test_query_counts import assert_flat
from webapp.documents.models import Document
from webapp.inbox.models import FetchRun, Mailbox, MailboxAccess, MailMessage

pytestmark = pytest.mark.django_db

URL = "admin:documents_document_changelist"
SANTIAGO_MAY = dt.timezone(dt.timedelta(hours=-4))  # Chile's winter time, as in May 2024


@pytest.fixture
def pair(tmp_path, redis_client) -> Pair:
    return mailbox_pair(tmp_path, redis_client)


@pytest.fixture
def clerk(pair) -> Client:
    client = Client()
    client.force_login(pair.clerk)
    return client


def listed(client: Client, **params) -> list[tuple[int, int]]:
    """(type, folio) of the documents the list shows with `params`."""
    response = client.get(reverse(URL), params)
    assert response.status_code == 200
    return sorted((d.doc_type, d.folio) for d in response.context["cl"].result_list)


def test_the_issuer_filter_suggests_and_finds_only_the_clerks_issuers(pair, clerk):
    page = clerk.get(reverse(URL)).content.decode()
    assert '<datalist id="issuer-suggestions">' in page
    assert f'<option value="76.086.428-5">{samples.DEFAULT_ISSUER_NAME}</option>' in page
    assert SECRET not in page.lower() and "77.777.777" not in page, "another mailbox's issuer is suggested"
    assert listed(clerk, issuer="76.086.428-5") == [(33, 100), (61, 7)]
    assert listed(clerk, issuer="76086428-5") == listed(clerk, issuer="76.086.428-5")
    assert listed(clerk, issuer="austral") == [(33, 100), (61, 7)], "a part of the name, any case"
    assert listed(clerk, issuer=SUR_ISSUER_RUT) == [] and listed(clerk, issuer=SUR_ISSUER_NAME) == []
    filtered = clerk.get(reverse(URL), {"issuer": "austral"}).content.decode()
    assert 'value="austral"' in filtered, "the filter keeps what was typed"


def test_receiver_type_and_mailbox_filters_offer_only_the_clerks(pair, clerk):
    page = clerk.get(reverse(URL)).content.decode()
    receiver = Document.objects.filter(mailbox=pair.norte).values_list("receiver_rut", flat=True).first()
    assert f"?receiver={receiver}" in page
    assert "?doc_type=61" in page and "?doc_type=33" in page and "?doc_type=52" not in page
    assert listed(clerk, receiver=receiver) == [(33, 100), (61, 7)]
    assert listed(clerk, doc_type="61") == [(61, 7)]
    assert listed(clerk, doc_type="x") == [(33, 100), (61, 7)], "a value that is no type filters nothing"
    assert "sur-secreto" not in page and f"mailbox__id__exact={pair.sur.pk}" not in page


def test_the_mailbox_filter_offers_the_clerks_mailboxes_only(pair, clerk):
    # the filter shows once the clerk has two mailboxes to choose between
    oeste = Mailbox.objects.create(name="oeste", settings={"path": "/nonexistent"})
    MailboxAccess.objects.create(mailbox=oeste, user=pair.clerk)
    page = clerk.get(reverse(URL)).content.decode()
    assert f"?mailbox__id__exact={pair.norte.pk}" in page and f"?mailbox__id__exact={oeste.pk}" in page
    assert "sur-secreto" not in page and f"mailbox__id__exact={pair.sur.pk}" not in page
    assert listed(clerk, mailbox__id__exact=str(pair.norte.pk)) == [(33, 100), (61, 7)]
    assert listed(clerk, mailbox__id__exact=str(oeste.pk)) == []
    assert listed(clerk, mailbox__id__exact=str(pair.sur.pk)) == [], "another mailbox lists nothing"


def test_the_reception_range_is_the_mails_arrival_on_the_santiago_calendar(pair, clerk):
    invoice = Document.objects.get(mailbox=pair.norte, folio=100)
    note = Document.objects.get(mailbox=pair.norte, folio=7)
    # 23:30 in Santiago on 19 May is 20 May in UTC: the list's day is Santiago's
    arrivals = {
        invoice: dt.datetime(2024, 5, 19, 23, 30, tzinfo=SANTIAGO_MAY),
        note: dt.datetime(2024, 5, 21, 8, tzinfo=dt.UTC),
    }
    for document, arrival in arrivals.items():
        MailMessage.objects.filter(pk=document.xml_attachment.message_id).update(received_at=arrival)
    for sur in Document.objects.filter(mailbox=pair.sur):
        MailMessage.objects.filter(pk=sur.xml_attachment.message_id).update(received_at=arrivals[invoice])
    assert listed(clerk, received_from="2024-05-19", received_to="2024-05-19") == [(33, 100)]
    assert listed(clerk, received_from="2024-05-20", received_to="2024-05-20") == []
    assert listed(clerk, received_from="2024-05-20") == [(61, 7)]
    assert listed(clerk, received_to="2024-05-31") == [(33, 100), (61, 7)]
    assert listed(clerk, received_from="not a date") == [(33, 100), (61, 7)], "a bound that is no date is ignored"


def _mail(folder, name: str, xml: bytes) -> None:
    (folder / name).write_bytes(
        samples.supplier_email(subject=name, attachments=[(f"{name}.xml", "application/xml", xml)])
    )


def test_the_total_range_is_in_pesos_and_takes_a_credit_note_by_its_amount(pair, clerk, tmp_path):
    folder = tmp_path / "norte"
    _mail(folder, "10.eml", samples.dte_xml(folio=200, lines=[("Arriendo bodega", 1, 100_000)], envelope=False))
    _mail(folder, "11.eml", samples.dte_xml(folio=201, lines=[("Camión tolva", 1, 10_000_000)], envelope=False))
    note = samples.dte_xml(
        doc_type=61,
        folio=8,
        lines=[("Devolución arriendo", 1, 10_000)],
        reference=samples.Reference(folio=200, issue_date=samples.Dte().issue_date),
        envelope=False,
    )
    _mail(folder, "12.eml", note)
    FetchRun.objects.filter(mailbox=pair.norte, status=FetchRun.Status.RUNNING).update(status=FetchRun.Status.FAILED)
    assert process_mailbox(pair.norte).raised == []
    totals = dict(Document.objects.filter(mailbox=pair.norte).values_list("folio", "total"))
    assert (totals[200], totals[201], totals[8], totals[100], totals[7]) == (
        119_000,
        11_900_000,
        11_900,
        66_485,
        66_485,
    )

    assert listed(clerk, total_from="10.000", total_to="$120.000") == [(33, 100), (33, 200), (61, 7), (61, 8)]
    assert listed(clerk, total_from="11900", total_to="11900") == [(61, 8)], "a credit note by its own amount"
    assert listed(clerk, total_from="1.000.000") == [(33, 201)]
    assert listed(clerk, total_to="-5") == listed(clerk), "a bound that is no amount is ignored"
    page = clerk.get(reverse(URL), {"total_from": "100.000", "total_to": "120000"}).content.decode()
    assert 'value="100.000"' in page and 'value="120.000"' in page, "the bounds as pesos are written"
    # the totals bar adds what the range shows: 119.000 alone
    assert "$119.000" in page.split('id="totals-bar"')[1].split("</div>")[0]
    ranged = clerk.get(reverse(URL), {"total_from": "11.000", "total_to": "120.000"}).content.decode()
    bar = ranged.split('id="totals-bar"')[1].split("</div>")[0]
    assert "$107.100" in bar, "66.485 + 119.000 - 66.485 - 11.900: the credit notes subtract in the bar"


def test_filtered_lists_cost_no_query_per_row(admin_client, django_assert_max_num_queries):
    url = reverse(URL) + (
        "?issuer=76086428-5&doc_type=33&total_from=1.000&total_to=200.000&issue_date_from=2026-01-01"
        "&received_to=2099-01-01"
    )
    # add_rows' mails have no arrival time: the reception bound is left out of the count's rows
    assert_flat(admin_client, url.replace("&received_to=2099-01-01", ""), django_assert_max_num_queries)
    changelist = admin_client.get(url.replace("&received_to=2099-01-01", "")).context["cl"]
    assert changelist.result_count == Document.objects.count() >= 30
    MailMessage.objects.update(received_at=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC))
    assert admin_client.get(url).context["cl"].result_count == Document.objects.count()
