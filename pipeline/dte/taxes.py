"""The SII's codes of additional taxes and retentions (ImptoReten/TipoImp, Detalle/CodImpAdic).

From the SII's "Formato Documentos Tributarios Electrónicos", table of "Codificación tipos de
impuestos y recargos" (the ImpAdicDTEType of SiiTypes_v10.xsd). A retention is VAT (or another tax)
the buyer withholds and pays the SII itself: it subtracts from the total. Every other code is an
additional or specific tax charged on top of the price: it adds. The codes of three digits (301,
321...) are the total retention of the product whose two-digit code is the partial one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TaxCode:
    code: int
    name: str
    withheld: bool  # a retention: subtracts from the total


def _table(withheld: bool, rows: dict[int, str]) -> dict[int, TaxCode]:
    return {code: TaxCode(code, name, withheld) for code, name in rows.items()}


_ADDITIONAL = {
    14: "IVA de margen de comercialización",
    17: "IVA anticipado faenamiento carne",
    18: "IVA anticipado carne",
    19: "IVA anticipado harina",
    23: "Impuesto adicional Art. 37 letras a, b, c (oro, platino, joyas, pieles finas)",
    24: "Impuesto Art. 42 letra a (licores, piscos, whisky, destilados)",
    25: "Impuesto Art. 42 letra c (vinos)",
    26: "Impuesto Art. 42 letra c (cervezas y bebidas alcohólicas)",
    27: "Impuesto Art. 42 letras d y e (bebidas analcohólicas y minerales)",
    271: "Impuesto Art. 42 (bebidas analcohólicas con elevado contenido de azúcares)",
    28: "Impuesto específico diésel",
    29: "Recuperación impuesto específico diésel transportistas",
    35: "Impuesto específico gasolinas",
    44: "Impuesto adicional Art. 37 letras e, h, i, l (alfombras, casas rodantes, caviar, armas)",
    45: "Impuesto adicional Art. 37 letra j (pirotecnia)",
    50: "IVA de margen de comercialización de instrumentos de prepago",
    51: "Impuesto gas natural comprimido",
    52: "Impuesto gas licuado de petróleo",
}
_RETENTIONS = {
    15: "IVA retenido total",
    16: "IVA retenido parcial",
    30: "IVA retenido legumbres",
    31: "IVA retenido silvestres",
    32: "IVA retenido ganado",
    33: "IVA retenido madera",
    34: "IVA retenido trigo",
    36: "IVA retenido arroz",
    37: "IVA retenido hidrobiológicas",
    38: "IVA retenido chatarra",
    39: "IVA retenido PPA",
    40: "IVA retenido opcional",
    41: "IVA retenido construcción",
    46: "IVA retenido oro",
    47: "IVA retenido cartones",
    48: "IVA retenido frambuesas y pasas",
    49: "Factura de compra sin retención",
    53: "Impuesto retenido suplementeros Art. 74 N° 5 Ley de la Renta",
    60: "Impuesto retenido factura de inicio",
    301: "IVA retenido legumbres (total)",
    321: "IVA retenido ganado (total)",
    331: "IVA retenido madera (total)",
    341: "IVA retenido trigo (total)",
    361: "IVA retenido arroz (total)",
    371: "IVA retenido hidrobiológicas (total)",
    481: "IVA retenido frambuesas y pasas (total)",
}

TAX_CODES: dict[int, TaxCode] = {**_table(False, _ADDITIONAL), **_table(True, _RETENTIONS)}


def tax_code(code: int) -> TaxCode | None:
    """The SII's entry for `code`, or None for a code its table does not have."""
    return TAX_CODES.get(code)


def unknown(code: int) -> TaxCode:
    """What an unknown code is taken for: an additional tax (it adds), named by its number."""
    return TaxCode(code, f"Impuesto código {code}", withheld=False)
