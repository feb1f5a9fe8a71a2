"""One write whose IntegrityError the caller catches, in a transaction of its own only where one is needed."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from django.db import DEFAULT_DB_ALIAS, connections, transaction


def conflict_guard(*, using: str = DEFAULT_DB_ALIAS) -> AbstractContextManager[object]:
    """Wrap ONE write statement (an INSERT that a unique constraint may refuse) whose IntegrityError is caught.

    Inside a transaction it is a savepoint (atomic): the refused statement is undone alone, and the outer
    transaction stays usable (PostgreSQL aborts it otherwise). In autocommit the statement is a transaction
    of its own already: refused, it is rolled back alone and the connection stays usable, so BEGIN and
    COMMIT around it would only be two more round trips. Never around more than one write: in autocommit
    each would commit on its own.
    """
    return transaction.atomic(using=using) if connections[using].in_atomic_block else nullcontext()
