"""What a list of documents adds up to, in pesos, each document with its kind's sign.

The one totals function: the Document list, exports, the dashboard and reconciliation with the
SII's register all ask here, so a credit note subtracts and a guide is left out everywhere alike.
Foreign-currency documents count in pesos (their peso amounts); their own-currency totals are
given beside, per currency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    DecimalField,
    F,
    Field,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from pipeline.dte.kinds import codes

from .models import Document

#: The peso columns summed, in the order lists show them.
AMOUNTS = ("net", "exempt", "vat", "other_taxes", "vat_withheld", "total")


@dataclass(frozen=True)
class Totals:
    #: Documents in the list, and of those the ones summed (guides are not, unless asked for).
    count: int
    summed: int
    net: int
    exempt: int
    vat: int
    other_taxes: int
    vat_withheld: int
    total: int
    #: Summed documents whose total is unknown (not in the sums: the list says so).
    without_total: int = 0
    #: Guides in the list, left out of the sums.
    guides: int = 0
    #: Own-currency totals of foreign-currency documents, signed: {"USD": Decimal("28689.40")}.
    foreign: dict[str, Decimal] = field(default_factory=dict)
    #: The earliest and latest issue date in the list (guides too): the date hierarchy's range.
    first_issued: dt.date | None = None
    last_issued: dt.date | None = None


def _signed(column: str, output: Field, *, include_guides: bool) -> Case:
    whens = [When(doc_type__in=codes(sign=-1), then=-F(column))]
    if not include_guides:
        whens.append(When(doc_type__in=codes(sign=0), then=Value(None)))
    return Case(*whens, default=F(column), output_field=output)


def document_totals(queryset: QuerySet[Document], *, include_guides: bool = False) -> Totals:
    """Count and signed peso sums of `queryset` (a filtered list), its own-currency totals and issue dates.

    One query, of conditional aggregates, when the list's foreign-currency documents are of one currency
    (or none): its lowest and highest currency are read with the sums, and when they are the same the
    one foreign sum is that currency's. Only a list of several currencies takes a second pass, grouped
    by currency. Not one query grouped by currency always: GROUP BY makes SQLite walk the list in
    currency order (an index, or a sort of every row) where a filter's own index would read a few rows.
    Each currency's total is summed by the database over that currency's rows, so its decimals come
    out the same either way.
    """
    guides = Q(doc_type__in=codes(sign=0))
    summed = Q() if include_guides else ~guides
    in_foreign = summed & Q(foreign_total__isnull=False) & ~Q(foreign_currency="")
    foreign_amount = _signed("foreign_total", DecimalField(), include_guides=include_guides)
    sums = {
        name: Coalesce(
            Sum(_signed(name, BigIntegerField(), include_guides=include_guides)),
            Value(0),
            output_field=BigIntegerField(),
        )
        for name in AMOUNTS
    }
    row = queryset.order_by().aggregate(
        count=Count("pk"),
        summed=Count("pk", filter=summed),
        guides=Count("pk", filter=guides),
        without_total=Count("pk", filter=summed & Q(total__isnull=True)),
        foreign=Count("pk", filter=in_foreign),
        lowest_currency=Min("foreign_currency", filter=in_foreign),
        highest_currency=Max("foreign_currency", filter=in_foreign),
        foreign_amount=Sum(foreign_amount, filter=in_foreign),
        first_issued=Min("issue_date"),
        last_issued=Max("issue_date"),
        **sums,
    )
    foreign: dict[str, Decimal] = {}
    if row["foreign"] and row["lowest_currency"] == row["highest_currency"]:  # one currency: its sum is read
        foreign[row["lowest_currency"]] = row["foreign_amount"] or Decimal(0)
    elif row["foreign"]:
        per_currency = (
            queryset.order_by()
            .filter(in_foreign)
            .values("foreign_currency")
            .annotate(amount=Sum(foreign_amount))
            .order_by("foreign_currency")
        )
        for entry in per_currency:
            foreign[entry["foreign_currency"]] = entry["amount"] or Decimal(0)
    return _totals(row, foreign, include_guides=include_guides)


def _totals(row: dict, foreign: dict[str, Decimal], *, include_guides: bool) -> Totals:
    return Totals(
        count=row["count"],
        summed=row["summed"],
        guides=0 if include_guides else row["guides"],
        without_total=row["without_total"],
        foreign=foreign,
        first_issued=row["first_issued"],
        last_issued=row["last_issued"],
        **{name: row[name] for name in AMOUNTS},
    )
