"""pipeline/rcv.py on the SII's real RCV samples (every list), re-encoded copies of them, and broken rows."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from pipeline.rcv import BadRow, FileName, RcvFormatError, RcvReader, RcvRow, parse_file_name
from tests.support.real_samples import RCV_DIR

#: The SII's samples beside the repository (shared/ next to the clone), or where the workplace keeps them.
SAMPLES = RCV_DIR
VARIANTS = {
    "registro": "RCV-compra-registro-rz_leading_trailing_whitespace.csv",
    "pendiente": "RCV-compra-pendiente-rz_leading_trailing_whitespace.csv",
    "no_incluir": "RCV-compra-no_incluir-rz_leading_trailing_whitespace.csv",
    "reclamado": "RCV-compra-reclamado-rz_leading_trailing_whitespace.csv",
}
BROKEN = "RCV-compra-reclamado.csv"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def read(data: bytes) -> tuple[RcvReader, list[RcvRow], list[BadRow]]:
    reader = RcvReader(io.BytesIO(data))
    items = list(reader)
    return reader, [i for i in items if isinstance(i, RcvRow)], [i for i in items if isinstance(i, BadRow)]


@pytest.mark.parametrize("register", sorted(VARIANTS))
def test_each_list_is_told_by_its_columns_and_every_row_read(register):
    reader, rows, bad = read(sample(VARIANTS[register]))
    assert reader.register == register
    assert bad == []
    assert len(rows) == 2
    assert [row.line for row in rows] == [2, 3]
    for row in rows:
        assert row.values["issuer_rut"] == "12345678-5"
        assert row.values["issuer_name"] == "Fake Company S.A."  # stray spaces around Razon Social dropped
        assert row.values["received_at"].tzinfo is UTC
        assert row.extra == {"NCE o NDE sobre Fact. de Compra": "0"}  # no field for it: kept by its header


def test_values_of_a_registro_row():
    _, rows, _ = read(sample(VARIANTS["registro"]))
    values = rows[0].values
    assert rows[0].key == ("12345678-5", 33, 23084)
    assert values["purchase_kind"] == "Del Giro"
    assert values["issue_date"] == date(2019, 6, 21)
    # 24/06/2019 09:55:53 in Santiago (UTC-4 in June)
    assert values["received_at"] == datetime(2019, 6, 24, 13, 55, 53, tzinfo=UTC)
    assert values["acknowledged_at"] is None
    assert (values["exempt"], values["net"], values["vat_recoverable"], values["total"]) == (0, 240169, 45632, 285801)
    assert values["vat_not_recoverable"] is None


def test_summer_time_instant_and_null_claim_date():
    _, rows, _ = read(sample(VARIANTS["no_incluir"]))
    # 14/12/2019 15:56:27 in Santiago's summer (UTC-3)
    assert rows[0].values["received_at"] == datetime(2019, 12, 14, 18, 56, 27, tzinfo=UTC)
    assert rows[0].values["vat_not_recoverable_code"] == 9
    _, rows, _ = read(sample(VARIANTS["reclamado"]))
    assert rows[0].values["claimed_at"] == datetime(2019, 6, 12, 13, 47, 23, tzinfo=UTC)
    assert rows[1].values["claimed_at"] is None  # the SII writes "null"
    assert rows[1].values["doc_type"] == 61


def test_broken_rows_are_reported_and_the_rest_read():
    reader, rows, bad = read(sample(BROKEN))
    assert reader.register == "reclamado"
    assert [row.values["folio"] for row in rows] == [1000055, 70013, 789456]
    assert rows[2].values["issuer_rut"] == "76354771-K"
    assert rows[0].values["other_tax_code"] == 23
    assert rows[0].values["other_tax_amount"] == 12000
    assert rows[0].values["other_tax_rate"] == Decimal("2.967999999")
    assert [b.line for b in bad] == [5, 6]
    assert "RUT Proveedor: not a RUT: 'INVALID-RUT'" in bad[0].reason
    assert "Folio: not a whole number" in bad[0].reason
    assert "Fecha Docto: not a dd/mm/yyyy date" in bad[0].reason
    assert "Folio: missing" in bad[1].reason


def test_a_rut_with_a_wrong_check_digit_is_a_bad_row():
    data = sample(VARIANTS["pendiente"]).replace(b"12345678-5;Fake Company S.A. ;9800042", b"12345678-4;X;9800042")
    _, rows, bad = read(data)
    assert [row.values["folio"] for row in rows] == [380007]
    assert bad[0].line == 2 and "wrong check digit" in bad[0].reason


def reencoded(data: bytes, encoding: str, *, bom: bool = False) -> bytes:
    text = data.decode("utf-8").replace("Fake Company S.A.", "Compañía Ñandú Ltda.").replace("\n", "\r\n")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)


@pytest.mark.parametrize(
    ("encoding", "bom"), [("utf-8", True), ("utf-8", False), ("iso-8859-1", False), ("windows-1252", False)]
)
def test_reencoded_samples_read_the_same(encoding, bom):
    reader, rows, bad = read(reencoded(sample(VARIANTS["registro"]), encoding, bom=bom))
    assert bad == []
    assert reader.headers[0] == "Nro"  # no BOM left on the first header
    assert [row.values["issuer_name"] for row in rows] == ["Compañía Ñandú Ltda."] * 2
    assert rows[0].values["total"] == 285801


def test_latin1_first_met_deep_in_the_file_switches_the_encoding():
    head, rest = sample(VARIANTS["pendiente"]).split(b"\n", 1)
    lines = [head] + [rest.split(b"\n")[0].replace(b"9800042", str(n).encode()) for n in range(1, 2001)]
    lines[-1] = lines[-1].replace(b"Fake Company", "Peñalolén".encode("latin-1"))
    _, rows, bad = read(b"\n".join(lines) + b"\n")
    assert bad == [] and len(rows) == 2000
    assert rows[-1].values["issuer_name"] == "Peñalolén S.A."


def test_a_header_names_columns_in_any_order_and_with_accents():
    data = "Folio;RUT Proveedor;Razón Social;Tipo Doc;Fecha Recepción;Columna Nueva\n7;76354771-K;Uno;33;01/02/2024 10:00:00;x\n"
    reader, rows, bad = read(data.encode())
    assert bad == []
    assert reader.register == "pendiente"
    assert rows[0].key == ("76354771-K", 33, 7)
    assert rows[0].values["received_at"] == datetime(2024, 2, 1, 13, 0, tzinfo=UTC)
    assert rows[0].extra == {"Columna Nueva": "x"}


def test_a_file_that_is_no_register_is_refused():
    with pytest.raises(RcvFormatError, match="no column Folio"):
        RcvReader(io.BytesIO(b"Nro;Tipo Doc;RUT Proveedor\n1;33;76354771-K\n"))
    with pytest.raises(RcvFormatError, match="empty"):
        RcvReader(io.BytesIO(b""))


def test_no_incluir_told_from_registro_by_tipo_compra():
    registro = sample(VARIANTS["registro"])
    assert RcvReader(io.BytesIO(registro)).register == "registro"
    moved = registro.replace(b";Del Giro;", b";No Corresp. Incluir;")
    assert RcvReader(io.BytesIO(moved)).register == "no_incluir"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("RCV_COMPRA_REGISTRO_76086428-5_202401.csv", FileName("registro", "76086428-5", "2024-01")),
        ("RCV_COMPRA_NO_INCLUIR_76086428-5_201912.csv", FileName("no_incluir", "76086428-5", "2019-12")),
        (
            "C:\\Users\\ana\\Downloads\\RCV_COMPRA_RECLAMADO_76354771-K_201906 (1).csv",
            FileName("reclamado", "76354771-K", "2019-06"),
        ),
        ("rcv_compra_pendiente_76086428-5_201907.CSV", FileName("pendiente", "76086428-5", "2019-07")),
        ("RCV_COMPRA_REGISTRO_76086428-4_202401.csv", FileName("registro", "", "2024-01")),  # bad check digit
        ("RCV_COMPRA_REGISTRO_76086428-5_202413.csv", FileName("registro", "76086428-5", "")),
        ("RCV-compra-no_incluir-rz_leading_trailing_whitespace.csv", FileName("no_incluir")),
        ("compras.csv", FileName()),
    ],
)
def test_file_names(name, expected):
    assert parse_file_name(name) == expected
