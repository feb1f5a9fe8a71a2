"""Hostile RespuestaDTE and EnvioRecibos: rows by the ten thousand, junk in every row, signing times at
the calendar's ends. What is read of one file is bounded, and said."""

from __future__ import annotations

import pytest

from pipeline.dte import parse_file
from pipeline.dte.sii_responses import MAX_RESPONSES
from tests.support.response_cases import Answered, envio_recibos, respuesta_dte

ROWS = 3 * MAX_RESPONSES


def test_a_respuesta_dte_of_fifteen_thousand_results_keeps_at_most_the_cap_and_says_so():
    parsed = parse_file(respuesta_dte(received=(), results=[Answered(folio=str(n)) for n in range(1, ROWS + 1)]))
    assert 0 < len(parsed.responses) <= MAX_RESPONSES
    assert parsed.responses[0].folio == 1
    assert any(f"at most {MAX_RESPONSES} rows" in problem for problem in parsed.problems)


def test_an_envio_recibos_of_fifteen_thousand_receipts_keeps_at_most_the_cap():
    parsed = parse_file(envio_recibos(receipts=[Answered(folio=str(n)) for n in range(1, ROWS + 1)]))
    assert 0 < len(parsed.responses) <= MAX_RESPONSES
    assert any(f"at most {MAX_RESPONSES} rows" in problem for problem in parsed.problems)


def test_fifteen_thousand_junk_rows_make_a_bounded_number_of_problems():
    parsed = parse_file(respuesta_dte(received=[Answered(folio="x", state="y")] * ROWS))
    assert parsed.responses == []
    # three problems a row (state, folio, not linked): bounded by the rows read, not the rows written
    assert MAX_RESPONSES < len(parsed.problems) <= 3 * MAX_RESPONSES + 1


def test_a_file_within_the_cap_is_read_whole_and_says_nothing_of_it():
    parsed = parse_file(respuesta_dte(received=[Answered(folio=str(n)) for n in range(1, 1001)]))
    assert len(parsed.responses) == 1000
    assert not any("rows)" in problem for problem in parsed.problems)


@pytest.mark.parametrize(
    "stamp", ["0001-01-01T00:00:00", "0001-01-01T12:00:00+14:00", "9999-12-31T23:59:59", "9999-12-31T23:59:59-12:00"]
)
def test_a_receipt_signed_at_the_calendars_ends_is_kept_with_no_time(stamp):
    parsed = parse_file(envio_recibos(receipts=[Answered(signed_at=stamp)], signed_at=stamp))
    (response,) = parsed.responses
    assert response.answered_at is None and response.folio == int(Answered().folio)
    assert any("TmstFirmaRecibo" in problem for problem in parsed.problems)
