"""A document's money as an accountant reads it: the amounts table, the notices atop its page, the
totals bar of the list, and its amounts in the list's columns."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from pipeline.dte.formatting import clp, dmy, money
from pipeline.dte.kinds import Family, kind_of
from pipeline.dte.rut import format_rut

from .models import Document, DocumentAssignment
from .totals import Totals, document_totals

#: How the totals bar names a currency ("US$ 27.739,40 en documentos en dólares").
CURRENCY_NAMES = {"USD": _("dollars"), "EUR": _("euros"), "GBP": _("pounds sterling"), "CLP": _("pesos")}

#: Names in lists are cut to this many characters; the full name is in the title.
NAME_CHARS = 28


def decimal_cl(value: Decimal | int | None) -> str:
    """A number written the Chilean way, with no needless decimals: 1.234,5 ; 19."""
    if value is None:
        return "-"
    value = Decimal(value).normalize()
    exponent = value.as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    return f"{value:,.{places}f}".replace(",", "_").replace(".", ",").replace("_", ".")


def truncated(text: str, chars: int = NAME_CHARS) -> SafeString:
    """`text` cut to `chars`, its whole in a title when cut."""
    short = Truncator(text or "").chars(chars)
    if short == text:
        return format_html("{}", text or "-")
    return format_html('<span title="{}">{}</span>', text, short)


def signed_total(document: Document) -> int | None:
    """The total as the list's totals count it: a credit note's is negative."""
    if document.total is None:
        return None
    return -document.total if kind_of(document.doc_type).sign < 0 else document.total


def is_foreign(document: Document) -> bool:
    return bool(document.foreign_currency) and document.foreign_currency != "CLP"


def list_total(document: Document) -> SafeString:
    """The list's total column: signed; a foreign document in its own currency with the pesos beside;
    "No cuadra" under a total its parts do not add up to."""
    shown = _list_amount(document)
    if document.adds_up is False:
        return format_html('{}<br><small class="not-adding-up">{}</small>', shown, gettext("Does not add up"))
    return shown


def _list_amount(document: Document) -> SafeString:
    pesos = signed_total(document)
    guide = kind_of(document.doc_type).sign == 0
    hint = gettext("Dispatch guide: not added to the totals.") if guide else ""
    if is_foreign(document) and document.foreign_total is not None:
        sign = -1 if kind_of(document.doc_type).sign < 0 else 1
        own = money(sign * document.foreign_total, document.foreign_currency)
        return format_html(
            '<span class="money" title="{}">{}</span><br><small class="pesos">{}</small>', clp(pesos), own, clp(pesos)
        )
    if guide:
        return format_html('<span class="money guide" title="{}">({})</span>', hint, clp(pesos))
    return format_html('<span class="money">{}</span>', clp(pesos))


@dataclass(frozen=True)
class AmountRow:
    label: str
    pesos: str
    own: str = ""
    strong: bool = False


def _rate(rate: Decimal | None) -> str:
    return f" ({decimal_cl(rate)} %)" if rate is not None else ""


def amount_rows(document: Document) -> list[AmountRow]:
    """Exento, Neto, IVA, each other tax or retention, IVA retenido ... Valor a pagar, in this order."""
    foreign = is_foreign(document)
    own_currency = document.foreign_currency if foreign else ""

    def own(value: Decimal | None) -> str:
        return money(value, own_currency) if foreign and value is not None else ""

    rows = [
        AmountRow(gettext("Exempt"), clp(document.exempt), own(document.foreign_exempt)),
        AmountRow(gettext("Net"), clp(document.net), own(document.foreign_net)),
        AmountRow(gettext("VAT") + _rate(document.vat_rate), clp(document.vat), own(document.foreign_vat)),
    ]
    in_pesos = document.currency == "CLP"
    for tax in document.taxes.all():
        label = tax.name or gettext("Tax %(code)s") % {"code": tax.code}
        if tax.withheld:
            label = gettext("%(name)s (withheld)") % {"name": label}
        amount = money(tax.amount, document.currency)
        rows.append(AmountRow(label + _rate(tax.rate), amount if in_pesos else "", "" if in_pesos else amount))
    optional = (
        (gettext("VAT withheld"), document.vat_withheld),
        (gettext("VAT not withheld"), document.vat_not_withheld),
        (gettext("Special credit (construction companies)"), document.special_credit),
        (gettext("Container deposit guarantee"), document.deposit_guarantee),
    )
    rows += [AmountRow(label, clp(value)) for label, value in optional if value]
    rows.append(AmountRow(gettext("Total"), clp(document.total), own(document.foreign_total), strong=True))
    after = (
        (gettext("Non-billable amount"), document.non_billable),
        (gettext("Period amount"), document.period_amount),
        (gettext("Previous balance"), document.previous_balance),
        (gettext("Amount to pay"), document.amount_due),
    )
    rows += [AmountRow(label, clp(value), strong=label == after[-1][0]) for label, value in after if value is not None]
    return rows


def currency_name(code: str) -> str:
    return str(CURRENCY_NAMES.get(code, code))


def amounts_table(document: Document) -> SafeString:
    rows = amount_rows(document)
    foreign = is_foreign(document)
    head = format_html(
        "<tr><th></th><th>{}</th>{}</tr>",
        gettext("Chilean pesos"),
        format_html("<th>{} ({})</th>", currency_name(document.foreign_currency), document.foreign_currency)
        if foreign
        else "",
    )
    body = format_html_join(
        "",
        '<tr{}><th scope="row">{}</th><td class="money">{}</td>{}</tr>',
        (
            (
                format_html(' class="{}"', "strong") if row.strong else "",
                row.label,
                row.pesos,
                format_html('<td class="money">{}</td>', row.own) if foreign else "",
            )
            for row in rows
        ),
    )
    return format_html('<table class="amounts"><thead>{}</thead><tbody>{}</tbody></table>', head, body)


@dataclass(frozen=True)
class Notice:
    level: str  # "warning", "info" or "error": admin's messagelist classes
    text: str
    details: tuple[str, ...] = ()


def latest_assignment(assignments: list[DocumentAssignment]) -> DocumentAssignment | None:
    return max(assignments, key=lambda assignment: assignment.sequence, default=None)


def assignment_sentence(assignment: DocumentAssignment) -> str:
    when = dmy(localtime(assignment.assigned_at).date()) if assignment.assigned_at else gettext("an unknown date")
    return gettext("Assigned to %(assignee)s (%(rut)s) on %(date)s") % {
        "assignee": assignment.assignee_name or "?",
        "rut": format_rut(assignment.assignee_rut) if assignment.assignee_rut else "?",
        "date": when,
    }


def notices(document: Document, assignments: list[DocumentAssignment]) -> list[Notice]:
    """What an accountant must see before the amounts: a sum that does not add up, who issued a factura
    de compra, that a note subtracts or a guide is not summed, and who the invoice was sold to."""
    found = []
    kind = kind_of(document.doc_type)
    if document.adds_up is False:
        problems = tuple(line for line in document.arithmetic_problems.splitlines() if line.strip())
        if document.total_difference:
            problems += (gettext("Difference in the total: %(amount)s") % {"amount": clp(document.total_difference)},)
        found.append(Notice("error", gettext("Does not add up: its lines, taxes and totals disagree."), problems))
    if kind.issued_by_buyer:
        found.append(
            Notice(
                "info",
                gettext(
                    "Purchase invoice (factura de compra): issued by the buyer. The issuer below is the buyer, "
                    "the receiver is the seller (the supplier)."
                ),
            )
        )
    if kind.family == Family.CREDIT_NOTE:
        found.append(Notice("info", gettext("Credit note: it subtracts in the list's totals.")))
    if kind.sign == 0:
        found.append(Notice("info", gettext("Dispatch guide: its amounts are not added to the list's totals.")))
    if (latest := latest_assignment(assignments)) is not None:
        found.append(Notice("warning", assignment_sentence(latest)))
    return found


@dataclass(frozen=True)
class TotalsBar:
    totals: Totals
    amounts: list[tuple[str, str]]
    notes: list[str]


def totals_bar(queryset: QuerySet[Document], totals: Totals | None = None) -> TotalsBar:
    """What the filtered list adds up to, in pesos, with what is left out said (`totals`: already counted)."""
    totals = totals or document_totals(queryset)
    amounts = [
        (gettext("Net"), clp(totals.net)),
        (gettext("Exempt"), clp(totals.exempt)),
        (gettext("VAT"), clp(totals.vat)),
        (gettext("Other taxes"), clp(totals.other_taxes)),
        (gettext("VAT withheld"), clp(totals.vat_withheld)),
        (gettext("Total"), clp(totals.total)),
    ]
    notes = []
    if totals.guides:
        notes.append(
            ngettext("%(count)d guide not added", "%(count)d guides not added", totals.guides)
            % {"count": totals.guides}
        )
    if totals.without_total:
        notes.append(
            ngettext("%(count)d without a total", "%(count)d without a total", totals.without_total)
            % {"count": totals.without_total}
        )
    for code, amount in totals.foreign.items():
        notes.append(
            gettext("%(amount)s in documents in %(currency)s")
            % {"amount": money(amount, code), "currency": currency_name(code)}
        )
    return TotalsBar(totals=totals, amounts=amounts, notes=notes)
