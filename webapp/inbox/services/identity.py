"""What makes two mails one: their content, never their Message-ID (some mailers reuse them)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import MailMessage

logger = logging.getLogger(__name__)


def message_fingerprint(*, message: MailMessage) -> str:
    """What makes two mails one where the source has no bytes to compare (Graph): the same
    Message-ID and the same attachments by name, size and content. "" without a Message-ID.

    Never the Message-ID alone: mailers reuse them (source.content_digest, the bytes, comes first).
    """
    if not message.internet_message_id:
        return ""
    rows = message.attachments.order_by("position").values_list(
        "position", "original_filename", "status", "blob__sha256", "blob__size"
    )
    # one JSON document, not fields joined by a separator: a Message-ID or a name may hold any
    # character, NUL too, and must never spell another mail's attachment rows
    parts = [
        message.internet_message_id,
        *([p, name, status, sha or "", size or 0] for p, name, status, sha, size in rows),
    ]
    return hashlib.sha256(b"parts\0" + json.dumps(parts).encode("ascii")).hexdigest()


def original_of(message: MailMessage, fingerprint: str) -> MailMessage | None:
    return (
        MailMessage.objects.filter(mailbox_id=message.mailbox_id, content_sha256=fingerprint, copy_of__isnull=True)
        .exclude(pk=message.pk)
        .first()
    )


def message_mark_copy(*, message: MailMessage, original: MailMessage, fingerprint: str) -> None:
    """`message` repeats `original`: its attachment rows go (the files are the original's, stored once)."""
    with transaction.atomic():
        message.attachments.all().delete()
        MailMessage.objects.filter(pk=message.pk).update(
            copy_of=original,
            content_sha256=fingerprint,
            status=MailMessage.Status.PROCESSED,
            processed_at=timezone.now(),
            updated_at=timezone.now(),
            attachment_count=original.attachment_count,
            error="",
        )
    logger.info("message %s is a copy of message %s (the same content)", message.pk, original.pk)


def message_identify(
    *, message: MailMessage, fingerprint: str, along: Callable[[], None] | None = None, **fields: object
) -> MailMessage | None:
    """Record the message's content identity, with `fields` in the same UPDATE; a repeat of an earlier mail
    becomes its copy. `along` (the run's counters) is written in the same transaction, whichever way it goes.

    Returns the original when `message` turned out a copy. The first of two copies to finish
    is the original: the conditional unique constraint on the content says which, so that a
    new mail costs one UPDATE and no look-up.
    """
    mine = MailMessage.objects.filter(pk=message.pk)
    along = along or (lambda: None)
    if fingerprint:
        for _ in range(2):
            try:
                with transaction.atomic():  # refused whole: `along` is written again below
                    mine.update(content_sha256=fingerprint, **fields)
                    along()
                return None
            except IntegrityError:  # another mail of this mailbox has this content: it is the original
                original = original_of(message, fingerprint)
                if original is not None:
                    with transaction.atomic():
                        if fields:
                            mine.update(**fields)
                        along()
                        message_mark_copy(message=message, original=original, fingerprint=fingerprint)
                    return original
    with transaction.atomic():
        if fields:
            mine.update(**fields)
        along()
    return None
