"""Files built to make a decoder explode: a PDF render bomb and a DTE just under the XML size cap."""

from __future__ import annotations

from pipeline import samples


def pdf_render_bomb(*, depth: int = 7, fanout: int = 10) -> bytes:
    """A valid one-page PDF of about 1.7 KB whose page draws fanout ** depth rectangles.

    Form XObject 1 fills a square; each next one draws the one before `fanout` times, and the
    page draws the last `fanout` times. PDFium expands every level: with the defaults (10 million
    rectangles) it asks for about 6 GB and 15 s of CPU before it aborts; the worker it ran in
    aborted with it.
    """
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(head: bytes, data: bytes) -> bytes:
        return b"<<%s/Length %d>>stream\n%s\nendstream" % (head, len(data), data)

    draws = b" ".join([b"/X Do"] * fanout)
    form = add(stream(b"/Subtype/Form/BBox[0 0 612 792]", b"0 0 9 9 re f"))
    for _ in range(depth - 1):
        form = add(stream(b"/Subtype/Form/BBox[0 0 612 792]/Resources<</XObject<</X %d 0 R>>>>" % form, draws))
    contents = add(stream(b"", draws))
    pages = len(objects) + 2
    page = add(
        b"<</Type/Page/Parent %d 0 R/MediaBox[0 0 612 792]/Resources<</XObject<</X %d 0 R>>>>/Contents %d 0 R>>"
        % (pages, form, contents)
    )
    add(b"<</Type/Pages/Kids[%d 0 R]/Count 1>>" % page)
    catalog = add(b"<</Type/Catalog/Pages %d 0 R>>" % pages)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root %d 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    return bytes(out)


def huge_dte(*, lines: int = 83_000) -> bytes:
    """One DTE in an EnvioDTE with `lines` detail lines: about 19.5 MB with the default, under the 20 MB cap.

    Parsed in the worker it took about 270 MB: the bytes, lxml's tree and the parsed lines.
    """
    return samples.dte_xml(
        folio=777, lines=[(f"Artículo de inventario número {index}", 1, 100 + index) for index in range(lines)]
    )
