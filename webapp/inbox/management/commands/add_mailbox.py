from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from webapp.inbox.models import Mailbox


class Command(BaseCommand):
    help = "Create or update a mailbox. Example: add_mailbox suppliers --folder /data/inbox"

    def add_arguments(self, parser):
        parser.add_argument("name", help="a short name (letters, digits, - and _)")
        parser.add_argument("--folder", help="a directory of .eml files to read")
        parser.add_argument("--inactive", action="store_true", help="create it switched off (the schedule skips it)")

    def handle(self, *args, name: str, folder: str | None, inactive: bool, **options):
        if not folder:
            raise CommandError("say where the mail is: --folder DIR")
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise CommandError(f"{path} is not a directory")
        mailbox, created = Mailbox.objects.update_or_create(
            name=name, defaults={"kind": Mailbox.Kind.FOLDER, "settings": {"path": str(path)}, "active": not inactive}
        )
        mailbox.full_clean()
        self.stdout.write(f"{'created' if created else 'updated'} mailbox {mailbox.name}: folder {path}")
