"""The PDF417 code words of the TED, as pdf417gen makes them, with the error correction computed faster.

Plain Python. pdf417gen computes the Reed-Solomon words over GF(929) one coefficient at a time in
Python: for the SII's level 5 (64 words) and a TED of some 800 data words, 50,000 steps, most of
the time of drawing a printable. Here the 64 coefficients are slots of one Python integer, each
32 bits wide, and every data word updates them all with a few big-integer operations. The slots
are reduced modulo 929 only at the end: each step adds at most 929² (< 2**20) to a slot, and a
slot takes at most 64 steps to leave the register, so none passes 2**26.
"""

from __future__ import annotations

import math

from pdf417gen import encoding
from pdf417gen.compaction import compact
from pdf417gen.data import ERROR_CORRECTION_FACTORS
from pdf417gen.util import chunks

_PRIME = 929
_SLOT = 32
_SLOT_MASK = (1 << _SLOT) - 1


def error_correction(words: list[int], level: int) -> list[int]:
    """pdf417gen.error_correction.compute_error_correction_code_words(words, level), computed by slots."""
    factors = ERROR_CORRECTION_FACTORS[level]
    count = 2 ** (level + 1)
    packed_factors = sum(factor << (_SLOT * x) for x, factor in enumerate(factors[:count]))
    # 929² in every slot keeps each slot non-negative (t * factor <= 928²) and is 0 modulo 929.
    offset = sum((_PRIME * _PRIME) << (_SLOT * x) for x in range(count))
    top_shift = _SLOT * (count - 1)
    low_mask = (1 << top_shift) - 1
    register = 0
    for word in words:
        t = (word + (register >> top_shift)) % _PRIME
        register = ((register & low_mask) << _SLOT) + offset - t * packed_factors
    slots = [((register >> (_SLOT * x)) & _SLOT_MASK) % _PRIME for x in range(count)]
    return [_PRIME - slot if slot > 0 else slot for slot in reversed(slots)]


def pdf417_codes(data: bytes, *, columns: int, security_level: int) -> list[list[int]]:
    """pdf417gen.encode(data, columns=columns, security_level=security_level): the rows of low-level code words.

    Raises ValueError, as pdf417gen does, when the data does not fit.
    """
    data_words = list(compact(data))
    ec_count = 2 ** (security_level + 1)
    padding = encoding.get_padding(len(data_words), ec_count, columns)
    length_descriptor = len(data_words) + len(padding) + 1
    encoding.validate_barcode_size(length_descriptor, math.ceil((length_descriptor + ec_count) / columns))
    words = [length_descriptor, *data_words, *padding]
    words += error_correction(words, security_level)
    return list(encoding.encode_rows(list(chunks(words, columns)), columns, security_level))
