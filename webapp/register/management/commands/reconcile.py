import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext

from pipeline.dte.formatting import money
from pipeline.dte.rut import parse_rut
from webapp.register.services.reconcile import (
    STATUS_LABELS,
    ReconciliationRow,
    Status,
    is_period,
    reconcile,
    reconciliation_totals,
)


class Command(BaseCommand):
    help = (
        "Compare the SII purchase register with the documents received, per receiver and period, over every "
        "mailbox: matched, amount_mismatch (both totals), missing_xml (ask the supplier) and missing_in_rcv "
        "(received, not in the register). Prints counts and sums per status, then the rows that do not match; "
        "--json prints every row."
    )

    def add_arguments(self, parser):
        parser.add_argument("--receiver", help="the receiver's RUT (with or without dots)")
        parser.add_argument("--period", help="YYYY-MM, the register's period")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print a JSON list of every row")

    def handle(self, *args, receiver: str | None = None, period: str | None = None, as_json: bool = False, **options):
        receiver_rut = _receiver(receiver)
        if period is not None and not is_period(period):
            raise CommandError(f"--period must be YYYY-MM, not {period!r}")
        rows = reconcile(mailbox_ids=None, receiver_rut=receiver_rut, period=period)
        if as_json:
            self._json(rows)
        else:
            self._report(rows, receiver_rut=receiver_rut, period=period)

    def _json(self, rows) -> None:
        self.stdout.write("[")
        for index, row in enumerate(rows):
            separator = "," if index else ""
            self.stdout.write(separator + _dumps(row))
        self.stdout.write("]")

    def _report(self, rows, *, receiver_rut: str | None, period: str | None) -> None:
        totals = reconciliation_totals(mailbox_ids=None, receiver_rut=receiver_rut, period=period)
        scope = " ".join(part for part in (receiver_rut, period) if part) or gettext("every receiver and period")
        self.stdout.write(gettext("SII purchase register against the documents received: %(scope)s") % {"scope": scope})
        for status, figures in totals.items():
            self.stdout.write(
                gettext("%(label)s: %(count)d (register %(rcv)s, XML %(xml)s)")
                % {
                    "label": STATUS_LABELS[status],
                    "count": figures.count,
                    "rcv": money(figures.rcv_total),
                    "xml": money(figures.xml_total),
                }
            )
        header = False
        for row in rows:
            if row.status == Status.MATCHED:
                continue
            if not header:
                self.stdout.write("")
                self.stdout.write(gettext("Not matched:"))
                header = True
            self.stdout.write(_line(row))
        if sum(figures.count for figures in totals.values()) == 0:
            self.stdout.write(gettext("Nothing to compare: the register holds no entries for this choice."))


def _receiver(text: str | None) -> str | None:
    if text is None:
        return None
    rut = parse_rut(text)
    if not rut.valid:
        raise CommandError(f"--receiver: {rut.reason}")
    return rut.normalized


def _line(row: ReconciliationRow) -> str:
    parts = [
        row.receiver_rut,
        row.period,
        f"{row.doc_type}-{row.folio}",
        row.issuer_rut,
        row.issuer_name,
        str(STATUS_LABELS[row.status]),
        gettext("register %(amount)s") % {"amount": money(row.rcv_total)},
        gettext("XML %(amount)s") % {"amount": money(row.xml_total)},
    ]
    return "  ".join(part for part in parts if part)


def _dumps(row: ReconciliationRow) -> str:
    return json.dumps(
        {
            "issuer": row.issuer_rut,
            "type": row.doc_type,
            "folio": row.folio,
            "status": row.status.value,
            "rcv_total": row.rcv_total,
            "xml_total": row.xml_total,
        },
        ensure_ascii=False,
    )
