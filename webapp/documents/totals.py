"""What a list of documents adds up to, in pesos, each document with its kind's sign.

The one totals function: the Document list, exports, the dashboard and reconciliation with the
SII's register all ask here, so a credit note subtracts and a guide is left out everywhere alike.
Foreign-currency documents count in pesos (their peso amounts); their own-currency totals are
given beside, per currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import BigIntegerField, Case, Count, DecimalField, F, Field, Q, QuerySet, Sum, Value, When
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


def _signed(column: str, output: Field, *, include_guides: bool) -> Case:
    whens = [When(doc_type__in=codes(sign=-1), then=-F(column))]
    if not include_guides:
        whens.append(When(doc_type__in=codes(sign=0), then=Value(None)))
    return Case(*whens, default=F(column), output_field=output)


def document_totals(queryset: QuerySet[Document], *, include_guides: bool = False) -> Totals:
    """Count and signed peso sums of `queryset` (a filtered list): one query, a second for foreign currencies."""
    guides = Q(doc_type__in=codes(sign=0))
    summed = Q() if include_guides else ~guides
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
        foreign=Count("pk", filter=summed & Q(foreign_total__isnull=False) & ~Q(foreign_currency="")),
        **sums,
    )
    foreign: dict[str, Decimal] = {}
    if not row["foreign"]:  # no foreign-currency document: no second pass over the list
        return _totals(row, foreign, include_guides=include_guides)
    per_currency = (
        queryset.order_by()
        .filter(summed, foreign_total__isnull=False)
        .exclude(foreign_currency="")
        .values("foreign_currency")
        .annotate(amount=Sum(_signed("foreign_total", DecimalField(), include_guides=include_guides)))
    )
    for entry in per_currency.order_by("foreign_currency"):
        foreign[entry["foreign_currency"]] = entry["amount"] or Decimal(0)
    return _totals(row, foreign, include_guides=include_guides)


def _totals(row: dict, foreign: dict[str, Decimal], *, include_guides: bool) -> Totals:
    return Totals(
        count=row["count"],
        summed=row["summed"],
        guides=0 if include_guides else row["guides"],
        without_total=row["without_total"],
        foreign=foreign,
        **{name: row[name] for name in AMOUNTS},
    )
