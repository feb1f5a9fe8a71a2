"""Every inbox, documents and register changelist with a search box answers a page for any query a person can type or paste."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from webapp.documents.models import Document
from webapp.inbox.models import Mailbox
from webapp.inbox.search import MAX_SEARCH_LENGTH, whole_number

pytestmark = pytest.mark.django_db

HOSTILE_QUERIES = [
    "²",
    "12²",
    "³-5",
    "76.086.42²-5",
    "\u202e",
    "fac\u202etura.pdf",
    "\u200b\ufeff",
    "🧾💸",
    "76.086.428-5🧾",
    "\x00",
    "abc\x00def",
    "١٢٣٤٥٦",
    "١٢٣٤٥٦٧-٨",
    "99999999999999999999999999",
    "9" * 19,
    "-5",
    "K",
    "'; DROP TABLE x; --",
    "%_%",
    '"unclosed',
    " ".join(["w"] * (MAX_SEARCH_LENGTH // 2)),  # as many words as the cap lets through
    "x" * 10_000,
    " ".join(["w"] * 2_000),
    " ".join(str(n) for n in range(1_500)),
]

SEARCHABLE = sorted(
    f"{model._meta.app_label}_{model._meta.model_name}"
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label in {"inbox", "documents", "register"}
    and (model_admin.search_fields or type(model_admin).get_search_results is not admin.ModelAdmin.get_search_results)
)


def changelist_url(changelist: str) -> str:
    return reverse(f"admin:{changelist}_changelist")


def test_every_inbox_documents_and_register_changelist_with_search_is_covered():
    assert set(SEARCHABLE) == {
        "inbox_mailbox",
        "inbox_fetchrun",
        "inbox_mailmessage",
        "inbox_blob",
        "inbox_attachment",
        "inbox_mailboxaccess",
        "documents_document",
        "documents_documentline",
        "documents_documentresponse",
        "documents_xmlclassification",
        "register_rcventry",
        "register_rcvimport",
    }


@pytest.mark.parametrize("changelist", SEARCHABLE)
@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=lambda q: repr(q[:16]))
def test_any_search_answers_a_page(admin_client, changelist, query):
    response = admin_client.get(changelist_url(changelist), {"q": query})
    assert response.status_code == 200


@pytest.mark.parametrize("changelist", SEARCHABLE)
def test_bytes_that_are_not_utf8_answer_a_page(admin_client, changelist):
    assert admin_client.get(changelist_url(changelist) + "?q=%ED%A0%80%FF%C0%AF%00").status_code == 200


@pytest.mark.parametrize("changelist", SEARCHABLE)
def test_a_query_over_the_cap_says_why_and_lists_everything(admin_client, changelist):
    response = admin_client.get(changelist_url(changelist), {"q": "w " * MAX_SEARCH_LENGTH})
    assert response.status_code == 200
    assert f"at most {MAX_SEARCH_LENGTH} characters" in response.content.decode()
    assert response.context["cl"].query == ""


def test_folio_and_rut_search_still_find_the_document(admin_client):
    mailbox = Mailbox.objects.create(name="suppliers", settings={"path": "/tmp/none"})
    document = Document.objects.create(
        mailbox=mailbox, doc_type=33, type_name="Factura electrónica", folio=4521, issuer_rut="76086428-5", total=1190
    )
    url = changelist_url("documents_document")
    for query in ("4521", "76.086.428-5", "76086428"):
        assert list(admin_client.get(url, {"q": query}).context["cl"].result_list) == [document], query
    for query in ("4521²", "²", "٤٥٢١"):
        assert list(admin_client.get(url, {"q": query}).context["cl"].result_list) == [], query


@pytest.mark.parametrize(
    ("text", "number"),
    [("4521", 4521), ("007", 7), ("", None), ("²", None), ("12²", None), ("٤٥٢١", None), ("-5", None), (" 5", None)],
)
def test_whole_number_takes_ascii_digits_only(text, number):
    assert whole_number(text) == number


@pytest.mark.parametrize("changelist", SEARCHABLE)
@pytest.mark.parametrize("lookup", ["id__regex", "id__iregex"])
def test_a_pattern_in_the_url_is_refused_not_run(admin_client, changelist, lookup):
    """A list's URL may filter its fields; a pattern such as (a+)+$ would run in the web process (SQLite
    runs REGEXP as Python's re) for minutes, and a broken one answered 500."""
    assert admin_client.get(changelist_url(changelist), {lookup: "(a+)+$"}).status_code == 400
    assert admin_client.get(changelist_url(changelist), {lookup: "["}).status_code == 400
