"""The XML reader opens no file or URL a sender names, in any encoding, and its errors tell nothing of the host.

Each entity points at a tripwire (tests/support/tripwires.py): a named pipe that notes a reader
and a TCP port that notes a connection. Before: a UTF-16 file passed the DOCTYPE check (made
on raw bytes) and libxml2 loaded the external parameter entity, so an entity naming a pipe
blocked the parse, and the recorded error named a file when it existed and not when it did not.
"""

from __future__ import annotations

import codecs
import threading
import time

import pytest
from lxml import etree

from pipeline import samples
from pipeline.dte import Kind, parse_file
from pipeline.dte.registry import Payload
from pipeline.dte.xmlsafe import RefusingResolver, XmlRejected, _parse, parse_xml
from tests.support import dte_files, hostile_files
from tests.support.tripwires import FifoTripwire, PortTripwire

DTD_REFUSED = "the XML declares a DTD (DOCTYPE); refused: entities are never expanded or fetched"

#: (name, Python codec, byte-order mark, the declaration's label)
ENCODINGS = [
    ("UTF-8", "utf-8", b"", "UTF-8"),
    ("UTF-8 with BOM", "utf-8", codecs.BOM_UTF8, "UTF-8"),
    ("UTF-16LE with BOM", "utf-16-le", codecs.BOM_UTF16_LE, "UTF-16"),
    ("UTF-16LE without BOM", "utf-16-le", b"", "UTF-16"),
    ("UTF-16BE with BOM", "utf-16-be", codecs.BOM_UTF16_BE, "UTF-16"),
    ("UTF-16BE without BOM", "utf-16-be", b"", "UTF-16"),
    ("UTF-32LE with BOM", "utf-32-le", codecs.BOM_UTF32_LE, "UTF-32"),
    ("UTF-32LE without BOM", "utf-32-le", b"", "UTF-32"),
    ("UTF-32BE with BOM", "utf-32-be", codecs.BOM_UTF32_BE, "UTF-32"),
    ("UTF-32BE without BOM", "utf-32-be", b"", "UTF-32"),
]
#: How a DTD names an outside resource; each is the entity of one URL.
CONSTRUCTS = {
    "parameter entity": '<!DOCTYPE DTE [<!ENTITY % d SYSTEM "{url}"> %d;]>',
    "external subset": '<!DOCTYPE DTE SYSTEM "{url}">',
    "public external subset": '<!DOCTYPE DTE PUBLIC "-//SII//DTE//ES" "{url}">',
    "general entity": '<!DOCTYPE DTE [<!ENTITY e SYSTEM "{url}">]>',
}
BODY = "<DTE><Documento><Encabezado><IdDoc><TipoDTE>33</TipoDTE><Folio>7</Folio></IdDoc></Encabezado></Documento></DTE>"


def document(construct: str, url: str, codec: str, bom: bytes, label: str, *, declared: bool = True) -> bytes:
    declaration = f'<?xml version="1.0" encoding="{label}"?>\n' if declared else ""
    body = BODY.replace("<Folio>7</Folio>", "<Folio>&e;</Folio>") if construct == "general entity" else BODY
    return bom + (declaration + CONSTRUCTS[construct].format(url=url) + "\n" + body).encode(codec)


@pytest.fixture
def fifo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative name resolves here
    with FifoTripwire(tmp_path / "entity.fifo") as tripwire:
        yield tripwire


@pytest.fixture
def port():
    with PortTripwire() as tripwire:
        yield tripwire


def urls(fifo: FifoTripwire, port: PortTripwire) -> dict[str, str]:
    return {"file URL": f"file://{fifo.path}", "path": str(fifo.path), "relative": fifo.path.name, "http": port.url}


@pytest.mark.parametrize("construct", CONSTRUCTS)
@pytest.mark.parametrize(("name", "codec", "bom", "label"), ENCODINGS, ids=[e[0] for e in ENCODINGS])
def test_no_encoding_gets_a_dtd_past_the_check_or_an_entity_opened(fifo, port, construct, name, codec, bom, label):
    for how, url in urls(fifo, port).items():
        for declared in (True, False):
            data = document(construct, url, codec, bom, label, declared=declared)
            parsed = parse_file(data, content_type="application/xml")
            if declared or bom or not codec.startswith("utf-16"):
                assert (parsed.kind, parsed.problems) == (Kind.INVALID, [DTD_REFUSED]), (how, declared)
            else:  # "<!" in UTF-16 with no mark and no declaration: the bytes are UTF-8, and not XML (appendix F)
                assert parsed.kind is Kind.INVALID and parsed.problems[0].startswith("not well-formed XML")
    assert not fifo.opened.is_set(), "the parser opened the pipe"
    assert not port.connected(), "the parser connected to the port"


def test_ebcdic_is_refused_unread(fifo, port):
    for url in urls(fifo, port).values():
        parsed = parse_file(document("parameter entity", url, "cp037", b"", "IBM037"))
        assert (parsed.kind, parsed.problems) == (Kind.INVALID, ["unreadable XML encoding: EBCDIC"])
    assert not fifo.opened.is_set() and not port.connected()


@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_the_parser_itself_opens_nothing_when_a_dtd_reaches_it(fifo, port, construct):
    """Past the text check (a bug there, or a DTD spelled in a way it does not know), libxml2 still loads nothing."""
    for url in urls(fifo, port).values():
        with pytest.raises(XmlRejected, match="DTD"):
            _parse(document(construct, url, "utf-8", b"", "UTF-8"))
    assert not fifo.opened.is_set() and not port.connected()


@pytest.mark.parametrize(("name", "codec", "bom", "label"), ENCODINGS, ids=[e[0] for e in ENCODINGS])
def test_the_resolver_alone_stops_libxml2_loading_a_parameter_entity(fifo, port, name, codec, bom, label):
    """The flags that let libxml2 2.14 load one (collect_ids off), the raw bytes in their own encoding."""
    for url in urls(fifo, port).values():
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, collect_ids=False)
        parser.resolvers.add(RefusingResolver())
        root = etree.fromstring(document("parameter entity", url, codec, bom, label), parser)
        assert root.getroottree().docinfo.internalDTD is not None  # it was parsed: _parse refuses it after
    assert not fifo.opened.is_set() and not port.connected()


@pytest.mark.parametrize(("name", "codec", "bom", "label"), ENCODINGS, ids=[e[0] for e in ENCODINGS])
def test_an_existing_and_a_missing_file_are_recorded_alike(tmp_path, name, codec, bom, label):
    """No oracle: a clerk who names a path learns nothing of whether the worker holds it."""
    existing = tmp_path / "blobs" / "ab" / "abcdef0123"
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"%PDF-1.4 not a DTD\n")
    recorded = []
    for target in (existing, tmp_path / "blobs" / "cd" / "missing0123"):
        for construct in CONSTRUCTS:
            parsed = parse_file(document(construct, f"file://{target}", codec, bom, label))
            recorded.append(parsed.problems)
            # Past the text check too: the parser's own errors are the same texts.
            with pytest.raises(XmlRejected) as raised:
                _parse(document(construct, f"file://{target}", "utf-8", b"", "UTF-8"))
            recorded.append([str(raised.value)])
    assert all(problems == [DTD_REFUSED] for problems in recorded), recorded


def test_parser_errors_are_our_texts_with_a_line_and_column_only():
    truncated = parse_file(b'<?xml version="1.0"?>\n<DTE>\n<Folio>1</Folio>\n<RznSoc>Compa')
    assert truncated.problems == [
        "not well-formed XML (truncated or damaged?): the file ends inside an element, line 4, column 14"
    ]
    mismatched = parse_file(b"<DTE><Folio>1</Documento></DTE>")
    assert mismatched.problems == [
        "not well-formed XML (truncated or damaged?): an end tag that does not match its start tag, line 1, column 26"
    ]
    undefined = parse_file(b"<DTE><RznSoc>&secret_path_etc_passwd;</RznSoc></DTE>")
    assert undefined.problems == [
        "not well-formed XML (truncated or damaged?): an entity that is not defined, line 1, column 38"
    ]


def test_bytes_that_are_not_their_declared_encoding_are_refused_with_the_offset():
    """UTF-8 and ISO-8859-1 mislabelled as each other are read as what they are (test_dte_encodings)."""
    data = '<?xml version="1.0" encoding="US-ASCII"?><DTE>Ñ</DTE>'.encode("iso-8859-1")
    assert parse_file(data).problems == ["not well-formed XML: bytes that are not US-ASCII at byte 46"]
    assert parse_file(b'<?xml version="1.0" encoding="x-no-such"?><DTE/>').problems == [
        "unreadable XML encoding: x-no-such"
    ]


@pytest.mark.parametrize(("name", "codec", "bom", "label"), ENCODINGS, ids=[e[0] for e in ENCODINGS])
def test_a_dte_in_any_of_these_encodings_reads_as_in_utf_8(name, codec, bom, label):
    utf8 = samples.dte_xml(folio=88, encoding="UTF-8")
    text = utf8.decode("utf-8").replace('encoding="UTF-8"', f'encoding="{label}"')
    (doc,) = parse_file(bom + text.encode(codec), content_type="application/xml").documents
    (expected,) = parse_file(utf8).documents
    assert doc == expected
    assert doc.lines[1].name == "Señalética de emergencia"


def test_a_dtd_written_only_in_a_comment_is_refused_too():
    """The check reads the whole text, not only the prolog: no tokenizer of ours to disagree with libxml2's."""
    with pytest.raises(XmlRejected, match="DTD"):
        parse_xml(b"<DTE><!-- <!DOCTYPE x> --><Folio>1</Folio></DTE>")


def test_one_slow_parse_does_not_hold_up_another():
    """Python 3.11's cached_property locked every Payload while one parsed: a parse that blocked froze them all."""
    huge, small = hostile_files.huge_dte(), samples.dte_xml(folio=5)
    finished: dict[str, float] = {}

    def parse_huge() -> None:
        assert Payload(data=huge).xml_root is not None
        finished["huge"] = time.monotonic()

    worker = threading.Thread(target=parse_huge)
    worker.start()
    time.sleep(0.02)
    assert Payload(data=small).xml_root is not None
    finished["small"] = time.monotonic()
    worker.join()
    assert finished["small"] < finished["huge"]


def test_a_rejection_is_remembered_not_parsed_again():
    payload = Payload(data=dte_files.EXTERNAL_ENTITY)
    with pytest.raises(XmlRejected) as first:
        _ = payload.xml_root
    with pytest.raises(XmlRejected) as second:
        _ = payload.xml_root
    assert second.value is first.value
