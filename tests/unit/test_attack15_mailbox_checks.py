""" "Probar conexión" attacked: a clerk pressing it on another mailbox, by its address or through the list's
action; a clerk rewriting their own mailbox's settings to make the server call where they choose; and a
mailbox whose saved "user" is a path (saved around the form): one real call is made only with an address
the form accepts, never with a path the settings spell."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from tests.support.fake_graph import FakeGraph
from tests.support.mailbox_pair import clerk_of
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def graph(tmp_path, monkeypatch, redis_client):
    with FakeGraph(tmp_path) as fake:
        for name, value in {**fake.env(), "GRAPH_READ_TIMEOUT": "1", "GRAPH_BACKOFF_SECONDS": "0.05"}.items():
            monkeypatch.setenv(name, value)
        yield fake


def _graph_mailbox(name: str, user: str) -> Mailbox:
    return Mailbox.objects.create(name=name, kind=Mailbox.Kind.GRAPH, settings={"user": user, "folder": "Inbox"})


def test_a_clerk_cannot_test_another_mailbox_nor_point_their_own_elsewhere(client, graph):
    norte, sur = _graph_mailbox("norte", graph.user), _graph_mailbox("sur", graph.user)
    client.force_login(clerk_of(norte))

    assert client.post(reverse("admin:inbox_mailbox_test_connection", args=[sur.pk])).status_code == 404
    answer = client.post(
        reverse("admin:inbox_mailbox_changelist"), {"action": "test_connection", "_selected_action": [sur.pk]}
    )
    assert not [str(m) for m in get_messages(answer.wsgi_request) if "sur" in str(m)]
    assert not graph.requests_to("/v1.0/"), "a call was made for another mailbox"

    hostile = '{"user": "ceo@contoso.test/../../../me", "folder": "Inbox"}'
    client.post(
        reverse("admin:inbox_mailbox_change", args=[norte.pk]),
        {"name": "norte", "kind": "graph", "settings": hostile, "active": "on"},
    )
    norte.refresh_from_db()
    assert norte.settings == {"user": graph.user, "folder": "Inbox"}, "a clerk changed where the server calls"


def test_a_saved_user_that_is_a_path_is_refused_before_any_call(admin_client, graph):
    mailbox = _graph_mailbox("raro", f"{graph.user}/../../../users/ceo@contoso.test")
    answer = admin_client.post(
        reverse("admin:inbox_mailbox_test_connection", args=[mailbox.pk]), HTTP_ACCEPT_LANGUAGE="es-CL"
    )
    (said,) = [str(m) for m in get_messages(answer.wsgi_request)]
    assert not graph.requests_to("/v1.0/") and graph.token_requests == 0, "the settings' path was called"
    assert said.startswith("raro: ") and '"user"' in said


def test_an_error_not_in_graphs_shape_is_said_not_an_error_page(admin_client, graph, monkeypatch):
    """A proxy (or a wrong GRAPH_ENDPOINT) answers {"error": "not_found"}: Graph's client read it as Graph's
    {"error": {"code", "message"}} and raised AttributeError, an error page for "Probar conexión"."""
    monkeypatch.setenv("GRAPH_ENDPOINT", f"{graph.base}/not-graph")
    mailbox = _graph_mailbox("m365", graph.user)
    answer = admin_client.post(
        reverse("admin:inbox_mailbox_test_connection", args=[mailbox.pk]), HTTP_ACCEPT_LANGUAGE="es-CL"
    )
    assert answer.status_code == 302
    (said,) = [str(m) for m in get_messages(answer.wsgi_request)]
    assert said.startswith("m365: ") and "Inbox" in said, said
