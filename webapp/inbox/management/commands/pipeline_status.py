import datetime as dt
import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import translation
from django.utils.translation import gettext as _

from webapp.formats.clock import local_time
from webapp.inbox.models import FetchRun
from webapp.inbox.services.status import pipeline_status


class Command(BaseCommand):
    help = "Queue depths, dead letters, the last scheduled read and the latest mailbox reads."

    def add_arguments(self, parser):
        parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON (times with their offset)")

    def handle(self, *args, as_json: bool = False, **options):
        status = pipeline_status()
        if as_json:
            self.stdout.write(_dumps(status))
            return
        with translation.override(settings.LANGUAGE_CODE):  # what a person reads: in the site's language
            self._print(status)

    def _print(self, status: dict) -> None:
        redis_state = status["redis"]
        if redis_state["ok"]:
            for queue, counts in status["queues"].items():
                self.stdout.write(
                    _("queue %(queue)s: %(counts)s")
                    % {"queue": queue, "counts": ", ".join(f"{k} {v}" for k, v in counts.items())}
                )
        else:
            self.stdout.write(_("Redis unreachable: %(error)s") % {"error": redis_state["error"]})
        scheduler = status["scheduler"]
        self.stdout.write(
            _("schedule: last read %(last)s, alive %(alive)s, next read %(next)s, unfinished starts %(unfinished)s")
            % {
                "last": _shown(scheduler["last_tick"], _("never")),
                "alive": _("yes") if scheduler["alive"] else _("no"),
                "next": _shown(scheduler.get("next_tick"), _("unknown")),
                "unfinished": scheduler.get("unfinished_ticks", 0),
            }
        )
        self.stdout.write(_("latest mailbox reads:"))
        for run in status["recent_runs"]:
            self.stdout.write(
                "  "
                + _("%(mailbox)s, read of %(when)s: %(status)s: %(new)s new, %(stored)s stored, %(failed)s failed")
                % {
                    "mailbox": run["mailbox"],
                    "when": _shown(run["created_at"], "-"),
                    "status": FetchRun.Status(run["status"]).label,
                    "new": run["messages_new"],
                    "stored": run["attachments_stored"],
                    "failed": run["attachments_failed"],
                }
                + (f" {run['error']}" if run["error"] else "")
            )


def _shown(iso: str | None, empty: str) -> str:
    """An ISO time of the status as a person reads it: in TIME_ZONE, in the language's format."""
    if not iso:
        return empty
    try:
        return local_time(dt.datetime.fromisoformat(iso))
    except ValueError:
        return iso


def _dumps(value) -> str:
    return json.dumps(value, indent=2, default=str)
