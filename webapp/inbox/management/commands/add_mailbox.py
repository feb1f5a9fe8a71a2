from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from webapp.inbox.forms import source_problems
from webapp.inbox.models import Mailbox

#: The exit status of a mailbox that is not stored for what is wrong with it (manage.py's for settings).
INVALID = 2


class Command(BaseCommand):
    help = (
        "Create or update a mailbox. Examples: add_mailbox suppliers --folder /data/inbox; "
        "add_mailbox invoices --graph invoices@contoso.com [--graph-folder Inbox] [--processed-folder NAME | --mark-read]"
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="a short name (letters, digits, - and _)")
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--folder", help="a directory of .eml files to read")
        where.add_argument("--graph", metavar="ADDRESS", help="a Microsoft 365 mailbox read over Graph (GRAPH_* env)")
        parser.add_argument(
            "--graph-folder",
            default="Inbox",
            help="Graph: the folder to read (default Inbox; a path like Inbox/Suppliers for a sub-folder)",
        )
        settle = parser.add_mutually_exclusive_group()
        settle.add_argument(
            "--processed-folder", help="Graph: move processed mail there (created if missing; default Processed)"
        )
        settle.add_argument(
            "--mark-read", action="store_true", help="Graph: mark processed mail read instead of moving it"
        )
        parser.add_argument("--include-inline", action="store_true", help="Graph: store inline images too")
        parser.add_argument("--inactive", action="store_true", help="create it switched off (the schedule skips it)")

    def handle(self, *args, name: str, folder: str | None, graph: str | None, inactive: bool, **options):
        if graph:
            kind, settings = Mailbox.Kind.GRAPH, self._graph_settings(name, graph, options)
            where = f"Graph mailbox {graph}, folder {settings['folder']}"
            settings, problems = source_problems(kind, settings)
            if problems:
                raise _refused(name, " ".join(problems))
        elif folder:
            # The operator's own machine: FOLDER_MAILBOX_ROOT holds only for mailboxes set in the admin.
            path = Path(folder).expanduser().resolve()
            if not path.is_dir():
                raise _refused(name, f"{path} is not a directory")
            kind, settings, where = Mailbox.Kind.FOLDER, {"path": str(path)}, f"folder {path}"
        else:
            raise _refused(name, "say where the mail is: --folder DIR or --graph ADDRESS")
        with transaction.atomic():
            mailbox = Mailbox.objects.select_for_update().filter(name=name).first() or Mailbox(name=name)
            created = mailbox.pk is None
            mailbox.kind, mailbox.settings, mailbox.active = kind, settings, not inactive
            try:
                mailbox.full_clean()
            except ValidationError as exc:
                raise _refused(name, _one_line(exc)) from None
            mailbox.save()
        self.stdout.write(f"{'created' if created else 'updated'} mailbox {mailbox.name}: {where}")

    def _graph_settings(self, name: str, address: str, options: dict) -> dict:
        if "@" not in address:
            raise _refused(name, f"--graph wants the mailbox address, e.g. invoices@contoso.com, not {address!r}")
        settings = {"user": address, "folder": options["graph_folder"], "include_inline": options["include_inline"]}
        if options["mark_read"]:
            settings["mark_read"] = True
        else:
            settings["processed_folder"] = options["processed_folder"] or "Processed"
        return settings


def _refused(name: str, reason: str) -> CommandError:
    return CommandError(f"mailbox {name!r} not saved: {reason}", returncode=INVALID)


def _one_line(error: ValidationError) -> str:
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
