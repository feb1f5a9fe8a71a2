"""Hand-written XML files the DTE tests share: responses, receipts and hostile files."""

from __future__ import annotations

from datetime import date

from pipeline import samples

RESPUESTA_DTE = """<?xml version="1.0" encoding="ISO-8859-1"?>
<RespuestaDTE xmlns="http://www.sii.cl/SiiDte" version="1.0">
  <Resultado ID="R1">
    <Caratula version="1.0">
      <RutResponde>77500100-3</RutResponde><RutRecibe>76086428-5</RutRecibe>
      <IdRespuesta>1</IdRespuesta><NroDetalles>1</NroDetalles><TmstFirmaResp>2024-05-15T09:00:00</TmstFirmaResp>
    </Caratula>
    <RecepcionEnvio><NmbEnvio>DTE_33_F1234.xml</NmbEnvio><EstadoRecepEnv>0</EstadoRecepEnv>
      <RecepcionDTE><TipoDTE>33</TipoDTE><Folio>1234</Folio><EstadoRecepDTE>0</EstadoRecepDTE></RecepcionDTE>
    </RecepcionEnvio>
  </Resultado>
</RespuestaDTE>
""".encode("iso-8859-1")

ENVIO_RECIBOS = """<?xml version="1.0" encoding="ISO-8859-1"?>
<EnvioRecibos xmlns="http://www.sii.cl/SiiDte" version="1.0">
  <SetRecibos ID="SR1">
    <Caratula version="1.0"><RutResponde>77500100-3</RutResponde><RutRecibe>76086428-5</RutRecibe></Caratula>
    <Recibo version="1.0"><DocumentoRecibo ID="D1"><TipoDoc>33</TipoDoc><Folio>1234</Folio>
      <Recinto>Bodega Ñuñoa</Recinto></DocumentoRecibo></Recibo>
  </SetRecibos>
</EnvioRecibos>
""".encode("iso-8859-1")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE DTE [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<DTE version="1.0"><Documento><Encabezado><IdDoc><TipoDTE>33</TipoDTE><Folio>1</Folio></IdDoc>
<Emisor><RUTEmisor>76086428-5</RUTEmisor><RznSoc>&lol9;</RznSoc></Emisor></Encabezado></Documento></DTE>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE DTE [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<DTE version="1.0"><Documento><Encabezado><IdDoc><TipoDTE>33</TipoDTE><Folio>2</Folio></IdDoc>
<Emisor><RUTEmisor>76086428-5</RUTEmisor><RznSoc>&secret;</RznSoc></Emisor></Encabezado></Documento></DTE>
"""

#: A bad check digit: 76086428 ends in -5.
WRONG_RUT = "76086428-3"

INVOICE_DATE = date(2024, 5, 2)


def three_dte_envelope() -> bytes:
    """An EnvioDTE with an invoice, an exempt invoice and a credit note voiding the first."""
    return samples.envio_dte(
        resolution_number=99,
        resolution_date=date(2019, 3, 7),
        documents=[
            samples.Dte(doc_type=33, folio=501, issue_date=INVOICE_DATE),
            samples.Dte(doc_type=34, folio=502, issue_date=INVOICE_DATE, lines=[("Asesoría contable", 1, 150_000)]),
            samples.Dte(
                doc_type=61,
                folio=77,
                issue_date=date(2024, 5, 9),
                lines=[("Devolución café", 1, 12_990)],
                reference=samples.Reference(folio=501, issue_date=INVOICE_DATE, doc_type=33, code=1),
            ),
        ],
    )


def bare_windows_1252() -> bytes:
    return samples.dte_xml(
        folio=4321,
        envelope=False,
        namespace=False,
        encoding="windows-1252",
        issuer_name="Distribuidora Ñuble S.A.",
        receiver_name="Panadería Ñandú Ltda.",
        lines=[("Azúcar granulada", 10, 1_290), ("Señalética «Salida»", 1, 8_450)],
    )
