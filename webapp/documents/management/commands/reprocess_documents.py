"""Parse and render XML attachments again (after a parser change), through the render actor."""

from __future__ import annotations

import datetime as dt
import functools
import time
from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from pipeline.dte import XML_CONTENT_TYPES
from webapp.inbox.models import Attachment

from ...services.documents import xml_attachment_reset

#: Attachments reset and sent per database round trip.
BATCH = 200


class Command(BaseCommand):
    help = (
        "Re-parse every stored XML attachment (received since --since) and re-render its documents. "
        "By default the work goes to the worker's render queue and this command follows its progress."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            type=dt.date.fromisoformat,
            metavar="YYYY-MM-DD",
            help="only attachments stored on or after this date",
        )
        parser.add_argument(
            "--sync", action="store_true", help="run the actor in this process instead of sending it to the worker"
        )
        parser.add_argument("--no-wait", action="store_true", help="send the work and return")
        parser.add_argument("--timeout", type=int, default=3600, help="seconds to wait for the worker (default 3600)")

    def handle(self, *args, since=None, sync=False, no_wait=False, timeout=3600, **options):
        from pipeline.actors import (
            render_attachment,  # sets up the broker: only when the command runs
        )

        queryset = Attachment.objects.filter(
            status=Attachment.Status.STORED, content_type__in=XML_CONTENT_TYPES, blob__isnull=False
        )
        if since is not None:
            created_from = timezone.make_aware(dt.datetime.combine(since, dt.time.min))
            queryset = queryset.filter(created_at__gte=created_from)
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        if not ids:
            self.stdout.write("No XML attachments to reprocess.")
            return
        disable = not self.stdout.isatty() and options.get("verbosity", 1) < 2
        failed = 0
        with tqdm(
            total=len(ids),
            unit="file",
            desc="parsing and rendering" if sync else "queued",
            file=self._progress_file(),
            disable=disable,
        ) as bar:
            for start in range(0, len(ids), BATCH):
                batch = ids[start : start + BATCH]
                xml_attachment_reset(attachment_ids=batch)
                for attachment_id in batch:
                    if sync:
                        try:
                            render_attachment(attachment_id)
                        except Exception as exc:
                            failed += 1
                            self.stderr.write(f"attachment {attachment_id}: {type(exc).__name__}: {exc}")
                    else:
                        transaction.on_commit(functools.partial(render_attachment.send, attachment_id))
                    bar.update(1)
        if sync:
            self.stdout.write(f"Reprocessed {len(ids)} XML attachment(s); {failed} raised an error.")
            return
        self.stdout.write(f"Sent {len(ids)} XML attachment(s) to the render queue.")
        if not no_wait:
            self._follow(ids, timeout=timeout, disable=disable)

    def _progress_file(self) -> TextIO:
        # The bar draws on the raw stream: Django's OutputWrapper ends every write with a newline.
        return cast(TextIO, self.stderr._out)

    def _follow(self, ids: list[int], *, timeout: int, disable: bool) -> None:
        pending = Attachment.objects.filter(pk__in=ids, preview_status=Attachment.PreviewStatus.PENDING)
        deadline = time.monotonic() + timeout
        with tqdm(
            total=len(ids), unit="file", desc="processed by the worker", file=self._progress_file(), disable=disable
        ) as bar:
            while True:
                done = len(ids) - pending.count()
                bar.update(done - bar.n)
                if done >= len(ids):
                    break
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"{len(ids) - done} attachment(s) still pending after {timeout}s; "
                        "is a worker consuming the render queue?"
                    )
                time.sleep(1)
        failed = Attachment.objects.filter(pk__in=ids, preview_status=Attachment.PreviewStatus.FAILED).count()
        self.stdout.write(f"Done: {len(ids)} processed, {failed} failed (see the XML classifications).")
