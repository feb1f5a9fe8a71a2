"""AEC files (an invoice sold to a factoring company) are read: the invoice they carry and each sale of it.

Before, an AEC was "XML with root <AEC>": nobody learned that a supplier's invoice now belongs to a
factoring company, which is who must be paid.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from pipeline import samples
from pipeline.dte import Kind, ParsedAssignment, formats, parse_file, parse_path
from pipeline.dte.aec import CHILE
from tests.support.aec_cases import (
    CHAIN,
    FACTORING_NUBLE,
    FACTORING_NUBLE_RUT,
    FACTORING_SUR,
    FACTORING_SUR_RUT,
    INVOICE_TOTAL,
    Cession,
    aec_xml,
)

FIRST = ParsedAssignment(
    sequence=1,
    issuer_rut=samples.DEFAULT_ISSUER_RUT,
    doc_type=33,
    folio=1234,
    issue_date=date(2024, 5, 14),
    invoice_total=INVOICE_TOTAL,
    assignor_rut=samples.DEFAULT_ISSUER_RUT,
    assignor_name=samples.DEFAULT_ISSUER_NAME,
    assignee_rut=FACTORING_SUR_RUT,
    assignee_name=FACTORING_SUR,
    assignee_email="operaciones@factoringsur.cl",
    amount=INVOICE_TOTAL,
    assigned_at=datetime(2024, 5, 20, 14, 15, tzinfo=UTC),  # 10:15 in Santiago's winter (-04:00)
    last_due_date=date(2024, 6, 13),
)
SECOND = replace(
    FIRST,
    sequence=2,
    assignor_rut=FACTORING_SUR_RUT,
    assignor_name=FACTORING_SUR,
    assignee_rut=FACTORING_NUBLE_RUT,
    assignee_name=FACTORING_NUBLE,
    assignee_email="cesiones@factoringnuble.cl",
    amount=INVOICE_TOTAL - 1000,
    assigned_at=datetime(2024, 5, 27, 20, 40, 5, tzinfo=UTC),
)


def the_invoice():
    (document,) = parse_file(samples.dte_xml(envelope=False)).documents
    return document


@pytest.mark.parametrize("namespace", [True, False], ids=["SII namespace", "no namespace"])
def test_an_aec_is_an_assignment_with_its_invoice_and_every_cession(namespace):
    parsed = parse_file(aec_xml(cessions=CHAIN, namespace=namespace), content_type="application/xml")
    assert (parsed.format, parsed.kind) == ("cl-sii-aec", Kind.ASSIGNMENT)
    assert parsed.summary == f"AEC: 33-1234 of 76086428-5 assigned to {FACTORING_NUBLE}"
    assert parsed.documents == [the_invoice()]
    assert parsed.assignments == [FIRST, SECOND]
    assert parsed.problems == []


def test_the_cessions_are_in_sequence_whatever_the_file_order():
    parsed = parse_file(aec_xml(cessions=CHAIN[::-1]))
    assert [a.sequence for a in parsed.assignments] == [1, 2]
    assert parsed.summary.endswith(f"assigned to {FACTORING_NUBLE}")


def test_one_cession_names_its_assignee_in_the_summary():
    parsed = parse_file(aec_xml(namespace=False))
    assert parsed.summary == "AEC: 33-1234 of 76086428-5 assigned to Factoring Sur SpA"
    assert parsed.assignments == [FIRST]


def test_an_aec_goes_through_the_sandbox_as_an_assignment(tmp_path):
    path = tmp_path / "AEC_33_1234.xml"
    path.write_bytes(aec_xml(cessions=CHAIN))
    parsed = parse_path(path, content_type="application/xml")
    assert parsed.kind is Kind.ASSIGNMENT
    assert parsed.assignments == [FIRST, SECOND]
    assert parsed.documents == [the_invoice()]


def test_the_format_is_registered_and_another_namespace_is_not_claimed():
    assert "cl-sii-aec" in formats()
    foreign = aec_xml(namespace=False).replace(b'<AEC version="1.0">', b'<AEC xmlns="urn:other" version="1.0">')
    parsed = parse_file(foreign)
    assert (parsed.kind, parsed.summary) == (Kind.OTHER, "XML with root <AEC>")


@pytest.mark.parametrize(
    ("written", "instant", "offset_hours"),
    [
        ("2024-01-15T12:00:00", datetime(2024, 1, 15, 15, tzinfo=UTC), -3),  # summer time
        ("2024-07-15T12:00:00", datetime(2024, 7, 15, 16, tzinfo=UTC), -4),
        ("2024-04-06T22:30:00", datetime(2024, 4, 7, 1, 30, tzinfo=UTC), -3),  # the hour before clocks go back
        ("2024-04-06T23:30:00", datetime(2024, 4, 7, 2, 30, tzinfo=UTC), -3),  # shown twice: the first
        ("2024-04-07T00:30:00", datetime(2024, 4, 7, 4, 30, tzinfo=UTC), -4),  # after the change
        ("2024-09-07T23:30:00", datetime(2024, 9, 8, 3, 30, tzinfo=UTC), -4),  # the last winter hour
        ("2024-09-08T00:30:00", datetime(2024, 9, 8, 4, 30, tzinfo=UTC), -3),  # skipped: as 01:30 summer time
        ("2024-09-08T01:30:00", datetime(2024, 9, 8, 4, 30, tzinfo=UTC), -3),
        ("2024-05-20T10:15:00-03:00", datetime(2024, 5, 20, 13, 15, tzinfo=UTC), -4),  # its own offset kept
        ("2024-05-20T10:15:00Z", datetime(2024, 5, 20, 10, 15, tzinfo=UTC), -4),
    ],
)
def test_tmst_cesion_is_an_instant_on_santiagos_clock(written, instant, offset_hours):
    (assignment,) = parse_file(aec_xml(cessions=[Cession(assigned_at=written)])).assignments
    assert assignment.assigned_at == instant
    assert assignment.assigned_at.utcoffset() == timedelta(hours=offset_hours)
    # On Santiago's clock, which a fixed offset keeps: the repeated hour's first pass equals its instant.
    assert assignment.assigned_at.replace(tzinfo=None) == instant.astimezone(CHILE).replace(tzinfo=None)


def test_junk_values_are_problems_and_blanks_not_errors():
    junk = Cession(
        amount="12abc",
        invoice_total="1E+30",
        assigned_at="mañana a las 10",
        last_due_date="2024-02-30",
        issue_date="14/05/2024",
        assignee_rut="96555444-3",
    )
    parsed = parse_file(aec_xml(cessions=[junk]))
    (assignment,) = parsed.assignments
    assert (assignment.amount, assignment.invoice_total, assignment.assigned_at) == (None, None, None)
    assert (assignment.last_due_date, assignment.issue_date) == (None, None)
    assert assignment.assignee_rut == "96555444-3"  # kept as written, its check digit noted
    assert parsed.problems == [
        "Cesion #1: Cesionario/RUT: wrong check digit: 96555444-3 should end in -0",
        "Cesion #1: FchEmis '14/05/2024' is not a date; left blank",
        "Cesion #1: MntTotal '1E+30' is not an amount of at most 18 digits; left blank",
        "Cesion #1: MontoCesion '12abc' is not an amount of at most 18 digits; left blank",
        "Cesion #1: TmstCesion 'mañana a las 10' is not a date and time; left blank",
        "Cesion #1: UltimoVencimiento '2024-02-30' is not a date; left blank",
    ]
    assert parsed.kind is Kind.ASSIGNMENT


def test_a_cession_without_its_key_is_skipped_and_the_others_kept():
    no_folio = replace(CHAIN[0], folio="")
    bad_sequence = replace(CHAIN[1], sequence="dos")
    parsed = parse_file(aec_xml(cessions=[no_folio, bad_sequence, replace(CHAIN[1], sequence="3")]))
    assert [a.sequence for a in parsed.assignments] == [3]
    assert parsed.problems == [
        "Cesion #1: no readable IdDTE/Folio; skipped",
        "Cesion #2: SeqCesion 'dos' is not a whole number from 1 to 32767; left blank",
        "Cesion #2: no readable SeqCesion; skipped",
    ]


def test_no_readable_cession_says_so_in_the_summary():
    parsed = parse_file(aec_xml(cessions=[Cession(issuer_rut="", doc_type="factura")]))
    assert parsed.assignments == []
    assert parsed.summary == "AEC: 33-1234 of 76086428-5 (no readable cesión)"
    assert parsed.problems == [
        "Cesion #1: TipoDTE 'factura' is not a whole number from 1 to 999; left blank",
        "Cesion #1: no readable IdDTE/TipoDTE, IdDTE/RUTEmisor; skipped",
    ]


def test_a_cession_naming_another_invoice_is_noted():
    parsed = parse_file(aec_xml(cessions=[Cession(folio="999")]))
    assert parsed.assignments[0].folio == 999
    assert parsed.problems == ["Cesion #1: IdDTE names 33-999 of 76086428-5, the DTE carried is 33-1234 of 76086428-5"]


def test_an_aec_without_its_invoice_or_cessions_is_read_with_problems():
    without_dte = parse_file(aec_xml(dte=None))
    assert (without_dte.kind, without_dte.documents) == (Kind.ASSIGNMENT, [])
    assert without_dte.assignments == [FIRST]
    assert without_dte.problems == ["AEC holds no DTECedido/DocumentoDTECedido/DTE"]
    empty = parse_file(aec_xml(dte=None, cessions=[]))
    assert empty.problems == ["AEC holds no DTECedido/DocumentoDTECedido/DTE", "AEC holds no Cesion"]
    assert empty.summary == "AEC (unreadable)"


def test_an_unreadable_invoice_inside_is_a_problem_and_the_cessions_are_kept():
    data = aec_xml(cessions=CHAIN).replace(b"<Folio>1234</Folio>", b"<Folio>x</Folio>", 1)
    parsed = parse_file(data)
    assert parsed.documents == []
    assert parsed.problems == ["DTECedido: no valid TipoDTE/Folio (TipoDTE='33', Folio='x')"]
    assert parsed.assignments == [FIRST, SECOND]


def test_a_truncated_aec_is_invalid():
    data = aec_xml(cessions=CHAIN)
    parsed = parse_file(data[: len(data) // 2])
    assert parsed.kind is Kind.INVALID
    assert parsed.problems[0].startswith("not well-formed XML (truncated or damaged?)")
