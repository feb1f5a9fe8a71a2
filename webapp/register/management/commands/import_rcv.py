from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.inbox.models import Mailbox
from webapp.register.services.imports import RcvImportRefused, rcv_import


class Command(BaseCommand):
    help = (
        "Import the SII purchase register (RCV) CSV files: registro, pendiente, no_incluir or reclamado. "
        "Receiver and period come from the SII's file name RCV_COMPRA_<ESTADO>_<RUT>_<YYYYMM>.csv unless "
        "given. Prints per file the rows new, changed, unchanged and refused (each refused line with its "
        "reason); exits 1 when a file could not be imported at all."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument("--receiver", metavar="RUT", help="the receiver's RUT, when the file name has none")
        parser.add_argument("--period", metavar="YYYY-MM", help="the register's month, when the file name has none")
        parser.add_argument(
            "--mailbox",
            metavar="NAME",
            help="the mailbox whose users see the entries; without it only those who see every mailbox do",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        mailbox = None
        if options["mailbox"]:
            mailbox = Mailbox.objects.filter(name=options["mailbox"]).first()
            if mailbox is None:
                raise CommandError(f"no mailbox named {options['mailbox']!r}")
        failed = 0
        for name in options["files"]:
            path = Path(name)
            try:
                with path.open("rb") as file:
                    record = rcv_import(
                        file,
                        filename=path.name,
                        receiver_rut=options["receiver"],
                        period=options["period"],
                        mailbox=mailbox,
                    )
            except (OSError, RcvImportRefused) as error:
                failed += 1
                self.stderr.write(f"{name}: not imported: {error}")
                continue
            self.stdout.write(
                f"{name}: {record.register} {record.receiver_rut} {record.period}: "
                f"{record.rows_read} rows read, {record.rows_created} new, {record.rows_updated} changed, "
                f"{record.rows_unchanged} unchanged, {record.rows_failed} refused"
            )
            for problem in record.problems:
                self.stdout.write(f"  line {problem['line']}: refused: {problem['reason']}")
            if (unlisted := record.rows_failed - len(record.problems)) > 0:
                self.stdout.write(f"  {unlisted} more refused rows, not listed")
        if failed:
            raise CommandError(f"{failed} of {len(options['files'])} files could not be imported")
