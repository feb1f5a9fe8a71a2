import json

from django.core.management.base import BaseCommand

from webapp.inbox.services.status import pipeline_status


class Command(BaseCommand):
    help = "Queue depths, dead letters, the last scheduler tick and recent runs."

    def add_arguments(self, parser):
        parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON")

    def handle(self, *args, as_json: bool = False, **options):
        status = pipeline_status()
        if as_json:
            self.stdout.write(_dumps(status))
            return
        redis_state = status["redis"]
        if redis_state["ok"]:
            for queue, counts in status["queues"].items():
                self.stdout.write(f"queue {queue}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        else:
            self.stdout.write(f"redis unreachable: {redis_state['error']}")
        scheduler = status["scheduler"]
        self.stdout.write(
            f"scheduler: last tick {scheduler['last_tick'] or 'never'}, alive {scheduler['alive']}, "
            f"next tick {scheduler.get('next_tick') or 'unknown'}, unfinished ticks {scheduler.get('unfinished_ticks', 0)}"
        )
        self.stdout.write("recent runs:")
        for run in status["recent_runs"]:
            self.stdout.write(
                f"  #{run['id']} {run['mailbox']} {run['status']} {run['created_at']}: {run['messages_new']} new, "
                f"{run['attachments_stored']} stored, {run['attachments_failed']} failed {run['error']}"
            )


def _dumps(value) -> str:
    return json.dumps(value, indent=2, default=str)
