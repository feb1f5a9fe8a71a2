"""The PDF417 of the printable: the same code words as pdf417gen's, with the error correction computed faster."""

import random

import pdf417gen
import pytest
from pdf417gen.error_correction import compute_error_correction_code_words

from pipeline import samples
from pipeline.dte.registry import parse_file
from pipeline.render.pdf417 import error_correction, pdf417_codes
from pipeline.render.printable import PDF417_COLUMNS, PDF417_SECURITY_LEVEL


@pytest.mark.parametrize("level", range(9))
def test_error_correction_is_pdf417gens(level):
    rng = random.Random(level)
    for count in (1, 2, 17, 300, 925):
        words = [rng.randrange(929) for _ in range(count)]
        assert error_correction(words, level) == compute_error_correction_code_words(words, level), count


def test_error_correction_of_the_largest_words():
    words = [928] * 925  # the largest slot sums the register can hold
    assert error_correction(words, 8) == compute_error_correction_code_words(words, 8)


def test_codes_of_a_ted_are_pdf417gens():
    for folio in (1, 4321, 987_654_321):
        ted = parse_file(samples.dte_xml(folio=folio)).documents[0].ted
        assert ted.startswith(b"<TED")
        assert pdf417_codes(ted, columns=PDF417_COLUMNS, security_level=PDF417_SECURITY_LEVEL) == pdf417gen.encode(
            ted, columns=PDF417_COLUMNS, security_level=PDF417_SECURITY_LEVEL
        )


def test_data_too_long_is_refused_as_pdf417gen_does():
    data = bytes(range(256)) * 8
    with pytest.raises(ValueError) as ours:
        pdf417_codes(data, columns=PDF417_COLUMNS, security_level=PDF417_SECURITY_LEVEL)
    with pytest.raises(ValueError) as theirs:
        pdf417gen.encode(data, columns=PDF417_COLUMNS, security_level=PDF417_SECURITY_LEVEL)
    assert str(ours.value) == str(theirs.value)
