"""The database work of one mail (an XML DTE and its PDF) through the floor's loop: the queries, counted.

The services the actors call, in autocommit as a worker runs them (bench/floor.py); a query that comes
back (a BEGIN around one INSERT, a read right after a write) shows here. What each query is for:
the module docstrings of webapp/inbox/services/messages.py, deliveries.py and
webapp/documents/services/documents.py.
"""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench import floor
from bench.mail import write_mails

pytestmark = pytest.mark.django_db(transaction=True)

#: One mail in a run of its own: the run's rows (create, start, listed, closed), the loop's checks and the
#: COMMITs (4) included; 69 before BEGIN and COMMIT left single INSERTs, the claim deadline joined the Document's
#: INSERT and a save stopped locking its run to ask whether it may close; 54 before the PDF's thumbnail waited
#: for its first request; 51 before one query asked what waits for a new Document, in place of three UPDATEs;
#: 49 before a run's close looked for pending messages unlocked first (one more query per run, not per mail).
QUERIES_FOR_ONE_MAIL = 50


def test_one_mail_costs_a_known_number_of_queries_and_no_begin_around_a_single_insert(tmp_path):
    write_mails(tmp_path / "warm", start=500_000, count=1)
    write_mails(tmp_path / "inbox", start=600_000, count=1)
    assert floor.work(str(tmp_path / "warm"), name="warm-up") == 1  # imports, the sandbox's child
    with CaptureQueriesContext(connection) as queries:
        assert floor.work(str(tmp_path / "inbox")) == 1
    statements = [q["sql"] for q in queries.captured_queries]
    kinds = Counter(sql.split()[0] for sql in statements)
    # the run's creation and closing, document_record's transaction (with its savepoint, a guard against a
    # concurrent INSERT of the same Document) and the identity's (status and counters together): nothing else
    assert kinds["BEGIN"] == 4, statements
    assert kinds["COMMIT"] == 4 and kinds["SAVEPOINT"] == 1, statements
    assert len(statements) == QUERIES_FOR_ONE_MAIL, "\n".join(statements)
