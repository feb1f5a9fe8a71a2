import datetime as dt
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext as _
from tqdm import tqdm

from webapp.formats.clock import local_time
from webapp.inbox.models import FetchRun, Mailbox, MailMessage
from webapp.inbox.services.runs import active_run, fetch_run_create

#: How often --wait looks at the runs, at most...
POLL_SECONDS = 0.5
#: ...and sooner while the wait is young: each pause is this share of the time waited so far, so
#: following a read adds a twentieth to its time (a read of one second is seen done within 0.05 s).
POLL_SHARE = 0.05
MIN_POLL_SECONDS = 0.02


class Command(BaseCommand):
    help = (
        "Read the mailboxes now, in the background. With --wait, follow the reads until they finish. "
        "Backfill older mail with --since YYYY-MM-DD [--folder NAME ...] [--include-processed] (waits, with progress)."
    )

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="mailboxes to fetch (default: every active one)")
        parser.add_argument(
            "--wait", action="store_true", help="wait for the reads; exit 0 only if all completed cleanly"
        )
        parser.add_argument("--timeout", type=float, default=600, help="seconds to wait with --wait (default 600)")
        parser.add_argument(
            "--since",
            type=dt.date.fromisoformat,
            metavar="YYYY-MM-DD",
            help="backfill: mail received on or after this day, read or not",
        )
        parser.add_argument(
            "--folder",
            action="append",
            dest="folders",
            metavar="NAME",
            help="backfill: read this folder instead of the usual one (repeatable)",
        )
        parser.add_argument(
            "--include-processed", action="store_true", help="backfill: read the folder of processed mail too"
        )
        parser.add_argument("--no-wait", action="store_true", help="backfill: do not follow the read")

    def handle(self, *args, **options):
        with translation.override(settings.LANGUAGE_CODE):  # what it prints: in the site's language
            return self._read(*args, **options)

    def _read(
        self,
        *args,
        names: list[str],
        wait: bool,
        timeout: float,
        since: dt.date | None = None,
        folders: list[str] | None = None,
        include_processed: bool = False,
        no_wait: bool = False,
        **options,
    ):
        from pipeline.actors import fetch_mailbox  # connects to Redis; only when a command sends work

        mailboxes = list(Mailbox.objects.filter(name__in=names) if names else Mailbox.objects.filter(active=True))
        missing = set(names) - {m.name for m in mailboxes}
        if missing:
            raise CommandError(_("no such mailbox: %(names)s") % {"names": ", ".join(sorted(missing))})
        if not mailboxes:
            raise CommandError(_("there is no active mailbox; add one with add_mailbox"))
        listing = {
            key: value
            for key, value in (
                ("since", since.isoformat() if since else None),
                ("folders", folders),
                ("include_processed", include_processed),
            )
            if value
        }
        if listing and not since:
            raise CommandError(_("--folder and --include-processed are backfill options: give --since too"))
        trigger = FetchRun.Trigger.BACKFILL if listing else FetchRun.Trigger.MANUAL
        wait = wait or (bool(listing) and not no_wait)
        runs = []
        for mailbox in mailboxes:
            try:
                run = fetch_run_create(mailbox=mailbox, trigger=trigger, options=listing)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            if run is None:
                run = active_run(mailbox)
                if run is None:  # the read in progress ended between the two queries
                    raise CommandError(
                        _("%(mailbox)s: a read ended just now; run the command again") % {"mailbox": mailbox}
                    )
                began = {"mailbox": mailbox, "when": local_time(run.created_at)}
                if listing:
                    raise CommandError(
                        _("%(mailbox)s: a read is in progress (since %(when)s); read older mail later") % began
                    )
                self.stdout.write(
                    _("%(mailbox)s: a read is already in progress (since %(when)s); following it") % began
                )
            else:
                fetch_mailbox.send(run.pk)
                self.stdout.write(_("%(mailbox)s: mailbox read queued.") % {"mailbox": mailbox})
            runs.append(run)
        if wait:
            return self._wait([r.pk for r in runs if r is not None], timeout)

    def _wait(self, run_ids: list[int], timeout: float):
        began = time.monotonic()
        deadline = began + timeout
        bar = tqdm(total=0, unit="msg", desc=_("messages saved"), disable=None)
        while True:
            runs = list(FetchRun.objects.filter(pk__in=run_ids).select_related("mailbox"))
            seen = sum(r.messages_new for r in runs)
            done = sum(r.messages.exclude(status="pending").count() for r in runs)
            bar.total = seen
            bar.n = done
            bar.refresh()
            # Done means the source is told too: nothing the runs listed is left in the folder or unread.
            unsettled = MailMessage.objects.filter(fetch_run_id__in=run_ids, settled_at__isnull=True)
            finished = all(r.status not in FetchRun.ACTIVE_STATUSES for r in runs)
            if finished and not unsettled.exclude(status=MailMessage.Status.PENDING).exists():
                break
            if time.monotonic() > deadline:
                bar.close()
                if finished:
                    raise CommandError(
                        _(
                            "%(count)d message(s) still not moved or marked read at the source after %(seconds)d s; "
                            "see the admin for the reasons"
                        )
                        % {"count": unsettled.count(), "seconds": timeout}
                    )
                raise CommandError(
                    _("reads still in progress after %(seconds)d s; is the background processing running?")
                    % {"seconds": timeout}
                )
            time.sleep(min(POLL_SECONDS, max(MIN_POLL_SECONDS, POLL_SHARE * (time.monotonic() - began))))
        bar.close()
        clean = True
        for run in runs:
            line = _(
                "%(mailbox)s: read of %(when)s: %(status)s - %(new)d new of %(seen)d messages, %(stored)d attachments "
                "stored (%(had)d already had), %(failed)d failed"
            ) % {
                "mailbox": run.mailbox,
                "when": local_time(run.created_at),
                "status": run.get_status_display(),
                "new": run.messages_new,
                "seen": run.messages_seen,
                "stored": run.attachments_stored,
                "had": run.attachments_deduplicated,
                "failed": run.attachments_failed,
            }
            self.stdout.write(line + (f": {run.error}" if run.error else ""))
            clean &= run.status == FetchRun.Status.COMPLETED and run.attachments_failed == 0
        if not clean:
            raise CommandError(_("not every read completed cleanly; see the admin for the reasons"))
