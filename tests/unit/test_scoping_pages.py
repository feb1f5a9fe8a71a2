"""A clerk of one mailbox sees nothing of another on any page: lists, filters and their counts, change
pages, autocomplete, the dashboard, dead letters (tests/support/mailbox_pair.py); the health report is in
test_health_pipeline_access.py."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.apps import apps
from django.contrib import admin
from django.db.models import ForeignKey
from django.urls import reverse

from tests.support.mailbox_pair import SECRET, SUR_ISSUER_RUT, mailbox_pair
from webapp.documents.models import Document
from webapp.inbox.admin_scoping import MailboxFilter
from webapp.inbox.models import Mailbox, MailMessage

pytestmark = pytest.mark.django_db

APPS = ("inbox", "documents")


@pytest.fixture
def pair(tmp_path, redis_client):
    return mailbox_pair(tmp_path, redis_client)


@pytest.fixture
def clerk(client, pair):
    client.force_login(pair.clerk)
    return client


def our_admins():
    return [
        (model, model_admin) for model, model_admin in admin.site._registry.items() if model._meta.app_label in APPS
    ]


def leaks(page: str, pair) -> list[str]:
    """What of the other mailbox `page` shows: its texts, its issuer's RUT, links to its rows."""
    found = [match.group(0) for match in re.finditer(rf".{{0,40}}{SECRET}.{{0,40}}", page, re.IGNORECASE)]
    found += [rut for rut in (SUR_ISSUER_RUT, "77.777.777") if rut in page]
    found += [url for url in pair.sur_urls if f'"{url}"' in page]
    return found


def pages_of_the_clerk(pair) -> list[str]:
    """Every page the clerk can reach: lists (with facets), add forms, a change page of each of their rows,
    the dashboard, dead letters, and the health report."""
    urls = [reverse("admin:index"), reverse("pipeline_dashboard"), reverse("admin:inbox_dead_letters")]
    for model, model_admin in our_admins():
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        urls += [changelist, f"{changelist}?_facets=True"]
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        for obj in model_admin.get_queryset(_request_of(pair.clerk))[:3]:
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
    return urls


def _request_of(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    return request


def test_no_page_shows_anything_of_the_other_mailbox(clerk, pair):
    visited, leaking = 0, {}
    for url in pages_of_the_clerk(pair):
        response = clerk.get(url)
        assert response.status_code in (200, 403), (url, response.status_code)
        if response.status_code == 200:
            visited += 1
            if found := leaks(response.content.decode(), pair):
                leaking[url] = found
    assert leaking == {}, sorted(leaking)
    assert visited > 30, "the clerk reaches every list, form and page of their own rows"


def test_the_other_mailbox_is_there_to_be_seen_by_a_superuser(admin_client, pair):
    """The search of test_no_page_shows_anything_of_the_other_mailbox finds what there is to find."""
    pages = [
        reverse("admin:documents_document_changelist"),
        reverse("admin:inbox_mailmessage_changelist"),
        reverse("pipeline_dashboard"),
        reverse(
            "admin:documents_document_change", args=[Document.objects.get(mailbox=pair.sur, doc_type=33, folio=100).pk]
        ),
    ]
    for url in pages:
        assert leaks(admin_client.get(url).content.decode(), pair), url


def test_filters_list_only_the_clerks_mailboxes_and_issuers(clerk, pair):
    # (a filter of one choice is not shown at all, so it is asked directly)
    message_admin = admin.site._registry[MailMessage]
    field = MailMessage._meta.get_field("mailbox")
    choices = MailboxFilter(field, _request_of(pair.clerk), {}, MailMessage, message_admin, "mailbox").lookup_choices
    assert choices == [(str(pair.norte.pk), "norte")]
    documents = clerk.get(reverse("admin:documents_document_changelist"))
    issuer = next(
        spec for spec in documents.context["cl"].filter_specs if getattr(spec, "parameter_name", "") == "issuer"
    )
    assert [rut for rut, _ in issuer.lookup_choices] == ["76086428-5"]
    # the other mailbox's id in the filter's parameter finds nothing of it, and names nothing
    forced = clerk.get(reverse("admin:inbox_mailmessage_changelist"), {"mailbox__id__exact": pair.sur.pk})
    assert {message.mailbox_id for message in forced.context["cl"].result_list} <= {pair.norte.pk}
    assert leaks(forced.content.decode(), pair) == []


def test_every_filter_on_a_relation_is_limited_to_what_the_user_sees():
    """Django's RelatedFieldListFilter lists every row of the related table: a guard for new filters."""
    for model, model_admin in our_admins():
        for spec in model_admin.list_filter:
            name, filter_class = spec if isinstance(spec, tuple) else (spec, None)
            if not isinstance(name, str):
                continue  # a SimpleListFilter of our own, tested by what it lists
            field = model._meta.get_field(name.split("__")[0])
            for part in name.split("__")[1:]:
                field = field.related_model._meta.get_field(part)
            if not field.is_relation or filter_class is admin.EmptyFieldListFilter:  # "empty or not" names no row
                continue
            assert filter_class is MailboxFilter and field.related_model is Mailbox, (model, name)


def test_the_dashboard_counts_only_the_clerks_mailboxes(clerk, pair):
    page = clerk.get(reverse("pipeline_dashboard")).content.decode()
    assert "Retry 1 failed message" in page and "Re-render 1 failed preview" in page
    assert 'id="queues"' not in page, "queue depths count every mailbox's work"
    assert re.findall(r"<tr><td>([^<]+)</td>", page.split('id="last-runs"')[1].split("</table>")[0]) == ["norte"]


def test_dead_letters_show_only_the_clerks(clerk, pair):
    page = clerk.get(reverse("admin:inbox_dead_letters")).content.decode()
    assert pair.norte_letter in page
    assert [letter for letter in pair.sur_letters if letter in page] == [], "not another mailbox's, nor a tick's"


def test_autocomplete_and_raw_id_lookups_stay_in_the_clerks_mailboxes(clerk, pair):
    asked = 0
    for model in apps.get_models():
        if model._meta.app_label not in APPS:
            continue
        for field in model._meta.get_fields():
            if not isinstance(field, ForeignKey):
                continue
            answer = clerk.get(
                reverse("admin:autocomplete"),
                {"app_label": model._meta.app_label, "model_name": model._meta.model_name, "field_name": field.name},
            )
            if answer.status_code == 200:
                asked += 1
                assert leaks(answer.content.decode(), pair) == [], (model, field.name)
                ids = {int(result["id"]) for result in answer.json()["results"]}
                related_admin = admin.site._registry[field.related_model]
                assert ids <= set(related_admin.get_queryset(_request_of(pair.clerk)).values_list("pk", flat=True))
    assert asked >= 5
    popup = clerk.get(reverse("admin:inbox_mailbox_changelist"), {"_to_field": "id", "_popup": "1"})
    assert [mailbox.name for mailbox in popup.context["cl"].result_list] == ["norte"]


def test_a_document_both_mailboxes_received_gives_the_clerk_their_own_xml_and_no_pdf_of_the_other_mailbox(clerk, pair):
    own = Document.objects.get(mailbox=pair.norte, doc_type=33, folio=100)
    theirs = Document.objects.get(mailbox=pair.sur, doc_type=33, folio=100)
    xml = b"".join(clerk.get(reverse("documents:xml_download", args=[own.pk])).streaming_content)
    assert b"<Folio>100</Folio>" in xml and b"<Folio>101</Folio>" not in xml, "not the other mailbox's envelope"
    assert clerk.get(reverse("documents:xml_download", args=[theirs.pk])).status_code == 404
    response = clerk.post(
        reverse("admin:documents_document_changelist"),
        {"action": "download_zip", "_selected_action": [own.pk, theirs.pk]},
    )
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    contents = b"".join(archive.read(name) for name in archive.namelist())
    assert b"<Folio>100</Folio>" in contents and b"<Folio>101</Folio>" not in contents
