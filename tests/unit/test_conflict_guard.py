"""conflict_guard: one INSERT a unique constraint may refuse, in a transaction only where one is needed."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from webapp.inbox.models import Blob
from webapp.inbox.services.transactions import conflict_guard

pytestmark = pytest.mark.django_db(transaction=True)  # autocommit, as a worker runs


def _blob() -> Blob:
    return Blob.objects.create(sha256="a" * 64, size=1, content_type="text/plain", storage_name="blobs/a")


def test_in_autocommit_the_insert_is_its_own_transaction_and_a_refusal_leaves_the_connection_usable():
    with CaptureQueriesContext(connection) as queries, conflict_guard():
        _blob()
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]  # no BEGIN, no SAVEPOINT
    with pytest.raises(IntegrityError), conflict_guard():
        _blob()
    assert Blob.objects.count() == 1


def test_inside_a_transaction_a_refusal_is_undone_alone_and_the_transaction_goes_on():
    with transaction.atomic():
        Blob.objects.create(sha256="b" * 64, size=1, content_type="text/plain", storage_name="blobs/b")
        _blob()
        with pytest.raises(IntegrityError), conflict_guard():
            _blob()
        assert Blob.objects.count() == 2  # still usable (PostgreSQL would refuse it without the savepoint)
    assert Blob.objects.count() == 2
